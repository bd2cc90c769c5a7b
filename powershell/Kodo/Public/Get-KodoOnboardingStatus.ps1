function Get-KodoOnboardingStatus {
    <#
    .SYNOPSIS
    Reports a fleet from the ledger of Invoke-KodoOnboarding -LedgerPath: each tenant's current state, or the counts per state.

    .DESCRIPTION
    Reads the ledger a bulk run writes (Invoke-KodoOnboarding -TenantId ... -LedgerPath) and
    returns one Kodo.OnboardingStatus per tenant, in the order the tenants first appear: its
    current state (Planned, InProgress, Done, Failed: the tenant's last record), how many
    attempts it took, the result status and the Kodo app's client id when done, where the new
    credential went (never the credential itself), the reason and the next action when failed,
    and when it last changed. A tenant InProgress is one whose run died (or is running now): the
    same Invoke-KodoOnboarding command runs it again. DirectoryId is the tenant's id as its
    sign-in named it: a tenant given once by a domain and once by its id is one entry (under the
    name it was first given), and either name finds it.

    With -Summary, one Kodo.OnboardingSummary instead: the counts per state, the number of
    records, a torn last line, and which process holds the ledger's lock (a run in progress).

    Reading takes no lock and changes nothing: it may run while a run writes the ledger. A last
    line cut short (a run killed while writing it) is ignored, with a warning.

    .PARAMETER LedgerPath
    The ledger file.

    .PARAMETER State
    Only the tenants in this state: Planned, InProgress, Done or Failed.

    .PARAMETER TenantId
    Only these tenants (IDs or domains, as given to Invoke-KodoOnboarding, or the DirectoryId;
    case-insensitive).

    .PARAMETER Summary
    Return the counts per state (one Kodo.OnboardingSummary) instead of one object per tenant.

    .EXAMPLE
    Get-KodoOnboardingStatus -LedgerPath ./fleet.jsonl -Summary

    How many tenants are done, failed, in progress.

    .EXAMPLE
    Get-KodoOnboardingStatus -LedgerPath ./fleet.jsonl -State Failed | Select-Object TenantId, Reason, NextAction

    The failed tenants, why, and what to do.

    .EXAMPLE
    Get-KodoOnboardingStatus -LedgerPath ./fleet.jsonl -State Failed | Invoke-KodoOnboarding -ClientSecretCredential $mspApp -LedgerPath ./fleet.jsonl

    Runs the failed tenants again (the objects carry TenantId).

    .OUTPUTS
    Kodo.OnboardingStatus, Kodo.OnboardingSummary
    #>
    [CmdletBinding(DefaultParameterSetName = 'Tenants')]
    [OutputType('Kodo.OnboardingStatus', 'Kodo.OnboardingSummary')]
    param(
        [Parameter(Mandatory, Position = 0)]
        [ValidateNotNullOrEmpty()]
        [string]$LedgerPath,

        [Parameter(ParameterSetName = 'Tenants')]
        [ValidateSet('Planned', 'InProgress', 'Done', 'Failed')]
        [string]$State,

        [Parameter(ParameterSetName = 'Tenants')]
        [string[]]$TenantId,

        [Parameter(Mandatory, ParameterSetName = 'Summary')]
        [switch]$Summary
    )

    try {
        $file = $PSCmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($LedgerPath)
        $request = [ordered]@{ kind = 'ledger.status'; path = $file }
        if ($State) { $request['state'] = $State.Substring(0, 1).ToLowerInvariant() + $State.Substring(1) }
        if ($TenantId) { $request['tenantIds'] = @($TenantId) }
        $r = Invoke-KodoNative -Cmdlet $PSCmdlet -Request $request
    } catch {
        $PSCmdlet.ThrowTerminatingError($_)
    }
    if ($r.torn) {
        Write-Warning -Message "The ledger '$file' ends in a line cut short (line $($r.torn.line), $($r.torn.bytes) bytes: a run killed while writing it); it is ignored. The next run of Invoke-KodoOnboarding with this ledger removes it."
    }
    if ($Summary) {
        $holder = $null
        if ($r.lockedBy) { $since = ConvertTo-KodoUtcDate $r.lockedBy.since
            $holder = 'process {0} on {1} since {2} (run {3})' -f $r.lockedBy.pid, $r.lockedBy.host, $(if ($since) { $since.ToString('yyyy-MM-ddTHH:mm:ssZ') }), $r.lockedBy.runId }
        [pscustomobject]@{
            PSTypeName = 'Kodo.OnboardingSummary'
            LedgerPath = $file
            Total      = [int]$r.summary.total
            Done       = [int]$r.summary.done
            Failed     = [int]$r.summary.failed
            InProgress = [int]$r.summary.inProgress
            Planned    = [int]$r.summary.planned
            Records    = [int]$r.records
            TornLine   = $(if ($r.torn) { [int]$r.torn.line } else { $null })
            LockedBy   = $holder
        }
        return
    }
    $states = @{ planned = 'Planned'; inProgress = 'InProgress'; done = 'Done'; failed = 'Failed' }
    foreach ($t in @($r.tenants | Where-Object { $_ })) {
        $reason = $null
        if ($t.reason) { $reason = "Kodo.$($t.reason.code): $($t.reason.message)" }
        [pscustomobject]@{
            PSTypeName         = 'Kodo.OnboardingStatus'
            TenantId           = [string]$t.tenantId
            DirectoryId        = [string]$t.directoryId
            State              = $states[[string]$t.state]
            Attempts           = [int]$t.attempts
            Status             = [string]$t.status
            ClientId           = [string]$t.clientId
            CredentialLocation = [string]$t.credentialLocation
            Reason             = $reason
            NextAction         = [string]$t.nextAction
            LastChange         = (ConvertTo-KodoUtcDate $t.lastChange)
            RunId              = [string]$t.runId
        }
    }
}
