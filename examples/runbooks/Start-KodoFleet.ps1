<#
.SYNOPSIS
Parent runbook for fleets beyond one job's limits: splits the tenants not done in the fleet's ledger into batches, runs each as a child job (Invoke-KodoFleetBatch.ps1), merges the children's ledgers and retries what failed.

.DESCRIPTION
One Automation job is unloaded after 3 hours (fair share) and its sandbox has 400 MB of memory;
a fleet of thousands of tenants is therefore run as child jobs of at most -BatchSize tenants,
-MaxJobs at a time. Each round:
1. reads the fleet's ledger (Get-KodoOnboardingStatus) and takes the tenants of the list that
   are not done there (a second run of the parent skips the finished fleet: no job started);
2. starts one child job per batch (Start-AzAutomationRunbook), each with a ledger of its own in
   -WorkDirectory, and polls them (Get-AzAutomationJob) until each has ended;
3. merges the children's ledgers into the fleet's (Merge-KodoOnboardingLedger: each child run
   once, attempts counted on).
Tenants not done after the first round (failed, or in a child job that failed or was stopped)
are run again in -Retries more rounds (default 1). The job's output ends with the fleet's
counts; the job fails naming the tenants still not done.

The children write ledgers the parent must read: run parent and children on a Hybrid Runbook
Worker group (-RunOn) whose machines share -WorkDirectory and the fleet's ledger (e.g. an SMB
share). Cloud sandboxes do not share disks: this example does not move ledgers through storage.
Only one parent may run on a ledger at a time (its lock is taken while it merges).

.PARAMETER LedgerPath
The fleet's ledger.

.PARAMETER TenantIds
The fleet: tenant IDs or initial domains, comma-separated (or -TenantListPath).

.PARAMETER TenantListPath
A CSV file with a TenantId column: the fleet.

.PARAMETER CredentialName
The Automation credential asset the children sign in with (see Invoke-KodoFleetBatch.ps1).

.PARAMETER CredentialPerTenant
One credential asset per tenant: "<CredentialName>-<TenantId>".

.PARAMETER SecretVault
The SecretManagement vault the children store new client secrets in (or -CertificateFolder).

.PARAMETER CertificateFolder
Instead of secrets, a certificate per tenant: the folder (shared by the workers) for each
tenant's PFX, Kodo-<directory id>.pfx (see Invoke-KodoFleetBatch.ps1).

.PARAMETER CertificatePasswordName
With -CertificateFolder: the Automation credential asset whose password protects the PFX files.

.PARAMETER WorkDirectory
Where the children's ledgers go (shared by parent and children).

.PARAMETER ResourceGroupName
The Automation account's resource group.

.PARAMETER AutomationAccountName
The Automation account.

.PARAMETER ChildRunbook
The child runbook's name in the account (default Invoke-KodoFleetBatch).

.PARAMETER RunOn
The Hybrid Runbook Worker group the children run on.

.PARAMETER BatchSize
Tenants per child job (default 100).

.PARAMETER MaxJobs
Child jobs running at once (default 10).

.PARAMETER Retries
Rounds after the first for tenants not done (default 1).

.PARAMETER PollSeconds
How often the children's jobs are looked at (default 30).

.PARAMETER ThrottleLimit
Tenants worked on at once in each child (1-16).

.PARAMETER SkipAudit
Children leave out Test-KodoApp.

.PARAMETER Environment
Global (default), USGov, USGovDoD, China, or Emulator (tests).
#>
param(
    [Parameter(Mandatory)][string]$LedgerPath,
    [string]$TenantIds,
    [string]$TenantListPath,
    [Parameter(Mandatory)][string]$CredentialName,
    [switch]$CredentialPerTenant,
    [string]$SecretVault,
    [string]$CertificateFolder,
    [string]$CertificatePasswordName,
    [Parameter(Mandatory)][string]$WorkDirectory,
    [Parameter(Mandatory)][string]$ResourceGroupName,
    [Parameter(Mandatory)][string]$AutomationAccountName,
    [string]$ChildRunbook = 'Invoke-KodoFleetBatch',
    [string]$RunOn,
    [ValidateRange(1, 2000)][int]$BatchSize = 100,
    [ValidateRange(1, 200)][int]$MaxJobs = 10,
    [ValidateRange(0, 5)][int]$Retries = 1,
    [ValidateRange(1, 3600)][int]$PollSeconds = 30,
    [ValidateRange(1, 16)][int]$ThrottleLimit = 4,
    [switch]$SkipAudit,
    [string]$Environment = 'Global'
)
$ErrorActionPreference = 'Stop'
# Where new credentials go, one place: a job's output is no place for a credential.
if ([bool]$SecretVault -eq [bool]$CertificateFolder -or ([bool]$CertificateFolder -ne [bool]$CertificatePasswordName)) {
    throw 'Give -SecretVault (new client secrets into that vault) or -CertificateFolder with -CertificatePasswordName (a certificate per tenant, its PFX in that folder): one of them.'
}
Import-Module Kodo

$fleet = New-Object System.Collections.Generic.List[string]
$seen = @{}
$given = @()
if ($TenantIds) { $given += @($TenantIds -split ',') }
if ($TenantListPath) { $given += @(Import-Csv -LiteralPath $TenantListPath | ForEach-Object { $_.TenantId }) }
foreach ($t in $given) {
    $t = ([string]$t).Trim()
    if ($t -and -not $seen.ContainsKey($t.ToLowerInvariant())) { $seen[$t.ToLowerInvariant()] = $true; $fleet.Add($t) }
}
if ($fleet.Count -eq 0) { throw 'No tenants: give -TenantIds or -TenantListPath.' }
$null = New-Item -ItemType Directory -Path $WorkDirectory -Force
$az = @{ ResourceGroupName = $ResourceGroupName; AutomationAccountName = $AutomationAccountName }
$tag = [datetime]::UtcNow.ToString('yyyyMMddTHHmmssfff')
$jobsStarted = 0

# The tenants of the fleet not done in its ledger.
function Get-Unfinished {
    $state = @{}
    if (Test-Path -LiteralPath $LedgerPath) {
        foreach ($s in Get-KodoOnboardingStatus -LedgerPath $LedgerPath) { $state[$s.TenantId.ToLowerInvariant()] = $s.State }
    }
    @($fleet | Where-Object { $state[$_.ToLowerInvariant()] -ne 'Done' })
}

for ($round = 0; $round -le $Retries; $round++) {
    $todo = @(Get-Unfinished)
    if ($todo.Count -eq 0) { break }
    $batches = New-Object System.Collections.Generic.Queue[object]
    for ($i = 0; $i -lt $todo.Count; $i += $BatchSize) { $batches.Enqueue(@($todo[$i..([math]::Min($i + $BatchSize, $todo.Count) - 1)])) }
    "Round $($round + 1): $($todo.Count) tenants not done, in $($batches.Count) child jobs of at most $BatchSize."
    $running = New-Object System.Collections.Generic.List[object]
    $ledgers = New-Object System.Collections.Generic.List[string]
    $n = 0
    while ($batches.Count -gt 0 -or $running.Count -gt 0) {
        while ($batches.Count -gt 0 -and $running.Count -lt $MaxJobs) {
            $batch = $batches.Dequeue()
            $n++
            $childLedger = Join-Path $WorkDirectory "$tag-round$($round + 1)-batch$n.jsonl"
            $parameters = @{
                TenantIds = ($batch -join ','); LedgerPath = $childLedger; CredentialName = $CredentialName
                ThrottleLimit = $ThrottleLimit; Environment = $Environment
            }
            if ($SecretVault) { $parameters['SecretVault'] = $SecretVault }
            else { $parameters['CertificateFolder'] = $CertificateFolder; $parameters['CertificatePasswordName'] = $CertificatePasswordName }
            if ($CredentialPerTenant) { $parameters['CredentialPerTenant'] = $true }
            if ($SkipAudit) { $parameters['SkipAudit'] = $true }
            $start = @{ Name = $ChildRunbook; Parameters = $parameters }
            if ($RunOn) { $start['RunOn'] = $RunOn }
            $job = Start-AzAutomationRunbook @start @az
            $jobsStarted++
            $ledgers.Add($childLedger)
            $entry = New-Object -TypeName psobject -Property @{ Id = $job.JobId; Batch = $n; Tenants = $batch.Count }
            $running.Add($entry)
        }
        Start-Sleep -Seconds $PollSeconds
        foreach ($r in $running.ToArray()) {
            $status = [string](Get-AzAutomationJob -Id $r.Id @az).Status
            if ($status -in 'Completed', 'Failed', 'Stopped', 'Suspended') {
                $null = $running.Remove($r)
                if ($status -ne 'Completed') { Write-Warning "Child job $($r.Id) (batch $($r.Batch), $($r.Tenants) tenants) ended $status; its unfinished tenants are run again." }
            }
        }
    }
    $written = @($ledgers | Where-Object { Test-Path -LiteralPath $_ })
    if ($written.Count -gt 0) {
        $m = Merge-KodoOnboardingLedger -LedgerPath $LedgerPath -SourcePath $written -Confirm:$false
        "Merged $($m.Merged) records of $($written.Count) child ledgers: $($m.Done) done, $($m.Failed) failed in the fleet's ledger."
    }
}

$left = @(Get-Unfinished)
"$($fleet.Count) tenants, $jobsStarted child jobs started, $($fleet.Count - $left.Count) done."
if (Test-Path -LiteralPath $LedgerPath) { Get-KodoOnboardingStatus -LedgerPath $LedgerPath -Summary }
if ($left.Count -gt 0) {
    if (Test-Path -LiteralPath $LedgerPath) {
        Get-KodoOnboardingStatus -LedgerPath $LedgerPath -State Failed | Select-Object TenantId, Attempts, Reason, NextAction
    }
    throw "$($left.Count) tenants are not done: $((@($left) | Select-Object -First 20) -join ', ')"
}
