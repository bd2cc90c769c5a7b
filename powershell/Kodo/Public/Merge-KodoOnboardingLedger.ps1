function Merge-KodoOnboardingLedger {
    <#
    .SYNOPSIS
    Appends the records of other ledgers (child jobs of a fleet run) to a fleet's ledger, each run once.

    .DESCRIPTION
    For a parent runbook that splits a fleet into child jobs, each running Invoke-KodoOnboarding
    with a ledger of its own (one run at a time may write a ledger): the children's records are
    appended to the fleet's ledger (-LedgerPath, created when missing) under its lock, so that
    Get-KodoOnboardingStatus -LedgerPath shows the whole fleet and a next run of the parent skips
    what the children finished. A run already in the fleet's ledger (its run id) is not merged
    again: merging the same child twice changes nothing. A tenant's attempts count on (a child's
    run of a tenant that failed before is its second attempt). A child's torn last line (a job
    killed while writing it) is not merged, with a warning. Every source is read and checked
    before anything is written; a source that is not a Kodo ledger stops the merge
    (Kodo.LedgerInvalid), nothing written.

    Returns one Kodo.LedgerMerge: how many records were merged, the runs already merged, and the
    fleet's counts per state after the merge.

    .PARAMETER LedgerPath
    The fleet's ledger.

    .PARAMETER SourcePath
    The ledgers to merge into it (e.g. one per child job).

    .PARAMETER Force
    Take over the fleet ledger's lock even when Kodo cannot show that the run holding it is gone.

    .EXAMPLE
    Merge-KodoOnboardingLedger -LedgerPath ./fleet.jsonl -SourcePath (Get-ChildItem ./batches/*.jsonl).FullName

    Merges every child ledger of a run into the fleet's.

    .EXAMPLE
    Merge-KodoOnboardingLedger -LedgerPath ./fleet.jsonl -SourcePath ./batches/b1.jsonl -WhatIf

    Counts what would be merged, writes nothing.

    .OUTPUTS
    Kodo.LedgerMerge
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Low')]
    [OutputType('Kodo.LedgerMerge')]
    param(
        [Parameter(Mandatory, Position = 0)]
        [ValidateNotNullOrEmpty()]
        [string]$LedgerPath,

        [Parameter(Mandatory, Position = 1)]
        [ValidateNotNullOrEmpty()]
        [string[]]$SourcePath,

        [switch]$Force
    )

    try {
        $file = $PSCmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($LedgerPath)
        $sources = @($SourcePath | ForEach-Object { $PSCmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($_) })
        $write = $PSCmdlet.ShouldProcess($file, "Append the records of $($sources.Count) ledger(s) not merged yet")
        $request = [ordered]@{ kind = 'ledger.merge'; path = $file; sources = $sources; force = [bool]$Force; dryRun = (-not $write) }
        $r = Invoke-KodoNative -Cmdlet $PSCmdlet -Request $request
    } catch {
        $PSCmdlet.ThrowTerminatingError($_)
    }
    [pscustomobject]@{
        PSTypeName    = 'Kodo.LedgerMerge'
        LedgerPath    = $file
        Merged        = [int]$r.merged
        AlreadyMerged = @($r.alreadyMerged)
        WhatIf        = [bool]$r.dryRun
        Total         = [int]$r.summary.total
        Done          = [int]$r.summary.done
        Failed        = [int]$r.summary.failed
        InProgress    = [int]$r.summary.inProgress
        Planned       = [int]$r.summary.planned
    }
}
