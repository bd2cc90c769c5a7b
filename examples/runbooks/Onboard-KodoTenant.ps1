<#
.SYNOPSIS
Azure Automation runbook: onboards this Automation account's tenant for KODO for Cloud backup.

.DESCRIPTION
Import Kodo.zip (New-KodoAutomationPackage) into the Automation account, give the account's
system-assigned managed identity the Microsoft Graph roles Kodo needs (README, "Azure
Automation"), then publish this runbook (PowerShell 7.x or 5.1 runtime) and start it.

It signs in with the managed identity, ensures the KODO app, its secret, every permission of
the manifest and admin consent, sets SharePoint's LegacyAuthProtocolsEnabled, and audits the
result. It changes nothing when the tenant is already onboarded. The job fails when the audit
does not pass, so an alert on failed jobs catches drift when this runs on a schedule.

.PARAMETER DisplayName
The app registration's display name.

.PARAMETER Manifest
Seed (KODO's documented procedure) or Kodo43.

.PARAMETER SecretVariableName
The name of an encrypted Automation variable to store a newly created client secret in (create
it first, encrypted). Empty: the secret is not stored, and never printed.

.PARAMETER Environment
The cloud: Global, USGov, USGovDoD, China.
#>
param(
    [string]$DisplayName = 'KODO for Cloud backup',
    [ValidateSet('Seed', 'Kodo43')]
    [string]$Manifest = 'Seed',
    [string]$SecretVariableName = '',
    [ValidateSet('Global', 'USGov', 'USGovDoD', 'China', 'Emulator')]
    [string]$Environment = 'Global'
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'Continue'
Import-Module Kodo

$result = Invoke-KodoOnboarding -DisplayName $DisplayName -Manifest $Manifest -Environment $Environment -Confirm:$false

if ($result.ClientSecret -and $SecretVariableName) {
    # Set-AutomationVariable is Azure Automation's internal cmdlet; the variable must be encrypted.
    $plain = (New-Object -TypeName System.Net.NetworkCredential -ArgumentList @('', $result.ClientSecret)).Password
    Set-AutomationVariable -Name $SecretVariableName -Value $plain
    $plain = $null
    Write-Output "The new client secret is stored in the encrypted Automation variable '$SecretVariableName'."
}

# Objects for the job output; the SecureString secret is left out.
$result | Select-Object TenantId, ClientId, SecretExpiresOn, AuditPassed, @{ Name = 'ChangeCount'; Expression = { @($_.Changes).Count } }, Changes
if (-not $result.AuditPassed) {
    $result.Audit | Where-Object Status -eq 'Fail' | Select-Object Area, Check, Detail
    throw "KODO's access to tenant $($result.TenantId) is incomplete: see the failed checks above."
}
