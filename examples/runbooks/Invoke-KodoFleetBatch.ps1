<#
.SYNOPSIS
Child runbook of Start-KodoFleet.ps1: onboards one batch of customer tenants, with a ledger of its own.

.DESCRIPTION
Started by the parent runbook (Start-AzAutomationRunbook) with a comma-separated list of
tenants and the path of this batch's ledger, which the parent merges into the fleet's ledger
when the job has ended (Merge-KodoOnboardingLedger). The path must be one the parent can read:
run both on a Hybrid Runbook Worker group (-RunOn) with a shared folder. A job stopped part-way
leaves its ledger: the parent merges it and runs the tenants it did not finish in its next round.

Each tenant is signed in to with the Automation credential asset -CredentialName (your
multi-tenant app: user name = client id, password = secret), or, with -CredentialPerTenant, the
asset "<CredentialName>-<TenantId>" (one app per customer). New client secrets go to the
SecretManagement vault -SecretVault (Kodo-<directory id>), or, with -CertificateFolder, each tenant's
app gets a certificate instead of a secret, its PFX written there as Kodo-<directory id>.pfx with
the password of the credential asset -CertificatePasswordName: a job's output is no place for a
credential, so one of the two is required. The job's output is one line of facts per tenant (no secret).

.PARAMETER TenantIds
The batch: tenant IDs or initial domains, comma-separated.

.PARAMETER LedgerPath
This batch's ledger.

.PARAMETER CredentialName
The Automation credential asset that signs in to the tenants (or the prefix, with -CredentialPerTenant).

.PARAMETER CredentialPerTenant
One credential asset per tenant: "<CredentialName>-<TenantId>".

.PARAMETER SecretVault
The SecretManagement vault for new client secrets. A vault is registered per user, and a cloud
sandbox keeps nothing between jobs: on a Hybrid Runbook Worker register it once for the worker's
account; in a cloud sandbox add the registration at the top of this runbook (Azure Key Vault
through Az.KeyVault's extension: README, "Fleets: the ledger").

.PARAMETER CertificateFolder
Instead of -SecretVault: a certificate per tenant (Invoke-KodoOnboarding -CredentialType
Certificate), each PFX in this folder (on a share the workers and the admin reach).

.PARAMETER CertificatePasswordName
With -CertificateFolder: the Automation credential asset whose password protects the PFX files.

.PARAMETER ThrottleLimit
Tenants worked on at once in this job (1-16).

.PARAMETER SkipAudit
Leave out Test-KodoApp after each tenant.

.PARAMETER Environment
Global (default), USGov, USGovDoD, China, or Emulator (tests).
#>
param(
    [Parameter(Mandatory)][string]$TenantIds,
    [Parameter(Mandatory)][string]$LedgerPath,
    [Parameter(Mandatory)][string]$CredentialName,
    [switch]$CredentialPerTenant,
    [string]$SecretVault,
    [string]$CertificateFolder,
    [string]$CertificatePasswordName,
    [ValidateRange(1, 16)][int]$ThrottleLimit = 4,
    [switch]$SkipAudit,
    [string]$Environment = 'Global'
)
$ErrorActionPreference = 'Stop'
if ([bool]$SecretVault -eq [bool]$CertificateFolder -or ([bool]$CertificateFolder -ne [bool]$CertificatePasswordName)) {
    throw 'Give -SecretVault (new client secrets into that vault) or -CertificateFolder with -CertificatePasswordName (a certificate per tenant, its PFX in that folder): one of them.'
}
Import-Module Kodo

$rows = foreach ($id in @($TenantIds -split ',' | ForEach-Object { $_.Trim() } | Where-Object { $_ })) {
    $asset = if ($CredentialPerTenant) { "$CredentialName-$id" } else { $CredentialName }
    [pscustomobject]@{ TenantId = $id; ClientSecretCredential = (Get-AutomationPSCredential -Name $asset) }
}
$run = @{
    Environment   = $Environment
    LedgerPath    = $LedgerPath
    ThrottleLimit = $ThrottleLimit
    SkipAudit     = [bool]$SkipAudit
    Confirm       = $false
    ErrorAction   = 'Continue'
}
if ($SecretVault) {
    $run['SecretVault'] = $SecretVault
} else {
    $run['CredentialType'] = 'Certificate'
    $run['NewCertificatePassword'] = (Get-AutomationPSCredential -Name $CertificatePasswordName).Password
    $run['NewCertificateFolder'] = $CertificateFolder
}
# One tenant's failure is in its result and the ledger; the others go on.
$rows | Invoke-KodoOnboarding @run | ForEach-Object {
    "tenant={0} status={1} clientId={2} credential={3} error={4}" -f $_.TenantId, $_.Status, $_.ClientId, $_.CredentialLocation, $_.Error
}
