function Invoke-KodoDebugOperation {
    <#
    .SYNOPSIS
    Debug-only hooks of the native library, for tests of error mapping and cancellation.
    .DESCRIPTION
    Not exported. Runs a debug request on a session created with debug hooks enabled:
    Sleep (cancellable, with progress), Fail (an error of a given code), Panic (inside the
    operation, or synchronously at start), Events (one event of every kind) and Stats
    (counters of live and cancelled native operations, and the native heap's live bytes and
    peak; -ResetPeak starts a new peak after reading it).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [ValidateSet('Sleep', 'Fail', 'Panic', 'Events', 'Stats')]
        [string]$Kind,
        [long]$Milliseconds = 1000,
        [string]$Code = 'Internal',
        [string]$Message = 'debug',
        [string]$Target,
        [ValidateSet('start', 'operation')]
        [string]$At = 'operation',
        [switch]$ResetPeak
    )

    $request = switch ($Kind) {
        'Sleep' { [ordered]@{ kind = 'debug.sleep'; ms = $Milliseconds; progressEveryMs = 100 } }
        'Fail' {
            $r = [ordered]@{ kind = 'debug.fail'; code = $Code; message = $Message }
            if ($Target) { $r['target'] = $Target }
            $r
        }
        'Panic' { [ordered]@{ kind = 'debug.panic'; message = $Message; at = $At } }
        'Events' { [ordered]@{ kind = 'debug.events' } }
        'Stats' { [ordered]@{ kind = 'debug.stats'; resetPeak = [bool]$ResetPeak } }
    }
    try {
        Invoke-KodoNative -Cmdlet $PSCmdlet -Request $request -DebugHooks
    } catch {
        $PSCmdlet.ThrowTerminatingError($_)
    }
}
