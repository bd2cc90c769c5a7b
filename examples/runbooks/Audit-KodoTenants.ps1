<#
.SYNOPSIS
Azure Automation runbook for MSPs: onboards or audits KODO's access in many customer tenants, one result per tenant.

.DESCRIPTION
Signs in to each tenant with your multi-tenant app (an Automation credential asset: user name =
the app's client id, password = its secret; the app must be consented in each customer tenant
with the Graph roles Kodo needs), then onboards it (-Mode Onboard) or only audits it
(-Mode Audit, the default, which changes nothing). One tenant's failure does not stop the
others; the job fails at the end when any tenant failed or did not pass the audit, after
writing every tenant's result.

.PARAMETER TenantIds
The customer tenants: IDs or initial domains, comma-separated (Automation passes strings).

.PARAMETER CredentialName
The Automation credential asset holding the app's client id and secret.

.PARAMETER Mode
Audit (default: read-only) or Onboard.

.PARAMETER Environment
The cloud: Global, USGov, USGovDoD, China.
#>
param(
    [Parameter(Mandatory)]
    [string]$TenantIds,
    [Parameter(Mandatory)]
    [string]$CredentialName,
    [ValidateSet('Audit', 'Onboard')]
    [string]$Mode = 'Audit',
    [ValidateSet('Global', 'USGov', 'USGovDoD', 'China', 'Emulator')]
    [string]$Environment = 'Global'
)

$ErrorActionPreference = 'Stop'
Import-Module Kodo

# Get-AutomationPSCredential is Azure Automation's internal cmdlet for credential assets.
$credential = Get-AutomationPSCredential -Name $CredentialName
$tenants = @($TenantIds -split '[,;\s]+' | Where-Object { $_ })

# -ErrorAction Continue: a failed tenant is reported (error stream + a Failed result) and the
# next one goes on.
$results = @($tenants | Invoke-KodoOnboarding -ClientSecretCredential $credential -Environment $Environment `
        -AuditOnly:($Mode -eq 'Audit') -Confirm:$false -ErrorAction Continue)

$results | Select-Object TenantId, Status, ClientId, AuditPassed, @{ Name = 'Failures'; Expression = { @($_.Audit | Where-Object Status -eq 'Fail').Count } }, Error, DurationSeconds
$bad = @($results | Where-Object { $_.Status -ne 'Succeeded' -or -not $_.AuditPassed })
Write-Output ("{0} tenants: {1} passed, {2} need attention." -f $results.Count, ($results.Count - $bad.Count), $bad.Count)
if ($bad.Count -gt 0) {
    throw "KODO's access needs attention in: $(($bad | ForEach-Object TenantId) -join ', ')"
}
