<#
.SYNOPSIS
Azure Automation runbook: onboards this Automation account's tenant for KODO for Cloud backup.

.DESCRIPTION
Import Kodo.zip (New-KodoAutomationPackage) into the Automation account, give the account's
system-assigned managed identity the Microsoft Graph roles, the Exchange.ManageAsApp role and
the Exchange Administrator role Kodo needs (README, "Azure Automation"), then publish this
runbook (PowerShell 7.x or 5.1 runtime) and start it.

It signs in with the managed identity, ensures the KODO app, its secret (as the tenant's app
management policy allows), every permission of the manifest and admin consent, and the app on
the organization's EWS allow list, and audits the result. It changes nothing when the tenant is
already onboarded, and never turns the retired LegacyAuthProtocolsEnabled back on. The job
fails when an admin must act on EWS (the output names the command) or the audit does not pass,
so an alert on failed jobs catches drift when this runs on a schedule.

.PARAMETER AllowEwsRestriction
Where the organization never set EwsEnabled, turn EWS on with an allow list (every app not on
it loses EWS). A runbook cannot be asked, so this is the consent.

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
    [switch]$AllowEwsRestriction,
    [ValidateSet('Global', 'USGov', 'USGovDoD', 'China', 'Emulator')]
    [string]$Environment = 'Global'
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'Continue'
Import-Module Kodo

$result = Invoke-KodoOnboarding -DisplayName $DisplayName -Manifest $Manifest -Environment $Environment -AllowEwsRestriction:$AllowEwsRestriction -Confirm:$false

if ($result.ClientSecret -and $SecretVariableName) {
    # Set-AutomationVariable is Azure Automation's internal cmdlet; the variable must be encrypted.
    $plain = (New-Object -TypeName System.Net.NetworkCredential -ArgumentList @('', $result.ClientSecret)).Password
    Set-AutomationVariable -Name $SecretVariableName -Value $plain
    $plain = $null
    Write-Output "The new client secret is stored in the encrypted Automation variable '$SecretVariableName'."
}

# Objects for the job output; the SecureString secret is left out.
$result | Select-Object TenantId, Status, ClientId, SecretExpiresOn, AuditPassed, @{ Name = 'ChangeCount'; Expression = { @($_.Changes).Count } }, Changes
if ($result.Status -eq 'ManualActionRequired') {
    $result.Ews | Select-Object Status, Reason, Command
    throw "Tenant $($result.TenantId) needs an admin's decision on Exchange Web Services: see the command above."
}
if (-not $result.AuditPassed) {
    $result.Audit | Where-Object Status -eq 'Fail' | Select-Object Area, Check, Detail
    throw "KODO's access to tenant $($result.TenantId) is incomplete: see the failed checks above."
}
