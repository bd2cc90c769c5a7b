# Category of each native status, by the status's stable name (see include/kodo.h).
$script:KodoStatusCategory = @{
    NullArgument        = 'InvalidArgument'
    InvalidUtf8         = 'InvalidData'
    InvalidJson         = 'InvalidData'
    InvalidRequest      = 'InvalidData'
    UnsupportedProtocol = 'InvalidOperation'
    InvalidHandle       = 'InvalidArgument'
    Panic               = 'NotSpecified'
    Internal            = 'NotSpecified'
    DebugHooksDisabled  = 'InvalidOperation'
}

function Invoke-KodoNative {
    <#
    .SYNOPSIS
    The only caller of Kodo's native library.
    .DESCRIPTION
    Loads the interop assembly and the native library on first use, keeps one session per kind
    (normal, debug), starts an operation from a JSON request, and polls its events on the
    calling (pipeline) thread: progress, log lines, warnings and prompts go to the caller's
    streams, the result is returned, an error becomes a terminating ErrorRecord with the stable
    ErrorId 'Kodo.<Code>' and the category the library gives (public commands catch it and
    rethrow it with their own ThrowTerminatingError, so it carries their name and position).
    When the pipeline is stopped
    (Ctrl+C, PowerShell.Stop()), the operation is cancelled and freed before returning.
    #>
    [CmdletBinding(DefaultParameterSetName = 'Request')]
    param(
        [Parameter(Mandatory, ParameterSetName = 'Request')]
        [System.Collections.IDictionary]$Request,

        [Parameter(Mandatory, ParameterSetName = 'Json')]
        [AllowEmptyString()]
        [string]$RequestJson,

        [Parameter(Mandatory, ParameterSetName = 'Bytes')]
        [AllowNull()]
        [byte[]]$RequestBytes,

        [Parameter(Mandatory, ParameterSetName = 'LibraryInfo')]
        [switch]$LibraryInfo,

        [Parameter(Mandatory, ParameterSetName = 'Close')]
        [switch]$CloseSessions,

        # The public command on whose behalf this runs: its streams get the events.
        [System.Management.Automation.PSCmdlet]$Cmdlet,

        # Use a session that accepts the debug-only requests.
        [switch]$DebugHooks,

        # Turns each 'item' event (one element of a list result) into objects: ErrorRecords go
        # to the caller's error stream, everything else to its output, as they come.
        [scriptblock]$OnItem,

        # More arguments for -OnItem, after the item (e.g. where a new secret goes).
        [object[]]$OnItemArgument = @(),

        # Certificates whose private keys answer this operation's 'sign' prompts, besides the
        # connected one.
        [System.Security.Cryptography.X509Certificates.X509Certificate2[]]$SigningCertificate,

        [ValidateRange(10, 60000)]
        [int]$PollMilliseconds = 200
    )

    if (-not $Cmdlet) { $Cmdlet = $PSCmdlet }

    if ($CloseSessions) {
        if ($script:KodoNative) {
            foreach ($handle in @($script:KodoSessions.Values)) {
                $null = $script:KodoNative.SessionFree($handle)
            }
        }
        $script:KodoSessions = @{}
        return
    }

    # --- Load on first use -----------------------------------------------------------------
    if ($null -eq $script:KodoNative) {
        $interopType = 'Kodo.Interop.KodoNative' -as [type]
        if ($null -eq $interopType) {
            $interopPath = [System.IO.Path]::Combine($script:KodoModuleRoot, 'bin', 'Kodo.Interop.dll')
            if (-not [System.IO.File]::Exists($interopPath)) {
                throw ((New-KodoErrorRecord -ErrorId 'Kodo.InteropAssemblyNotFound' `
                    -Category ObjectNotFound -TargetObject $interopPath `
                    -Message "Kodo's interop assembly was not found at '$interopPath'. The module is not built: run ./build.ps1 from the Kodo source folder."))
            }
            Add-Type -Path $interopPath
            $interopType = 'Kodo.Interop.KodoNative' -as [type]
        }

        $tried = @(Get-KodoNativeLibraryCandidate)
        $found = $null
        foreach ($candidate in $tried) {
            if ([System.IO.File]::Exists($candidate)) { $found = $candidate; break }
        }
        if (-not $found) {
            $nl = [Environment]::NewLine
            $rid = Get-KodoRuntimeIdentifier
            $list = ($tried | ForEach-Object { "  $_" }) -join $nl
            # The runtimes this copy of the module does carry, to tell a package built without this
            # platform from a damaged installation.
            $runtimesDir = [System.IO.Path]::Combine($script:KodoModuleRoot, 'runtimes')
            $have = @()
            if ([System.IO.Directory]::Exists($runtimesDir)) {
                $have = @([System.IO.Directory]::GetDirectories($runtimesDir) |
                        Where-Object { [System.IO.Directory]::Exists([System.IO.Path]::Combine($_, 'native')) -and [System.IO.Directory]::GetFiles([System.IO.Path]::Combine($_, 'native'), '*kodo.*').Length -gt 0 } |
                        ForEach-Object { [System.IO.Path]::GetFileName($_) })
            }
            $message = "Kodo's native library for this platform ($rid) was not found. Paths tried:$nl$list$nl" +
                "This copy of Kodo $($ExecutionContext.SessionState.Module.Version) carries the library for: $(if ($have) { $have -join ', ' } else { 'no platform' }). " +
                "Install a Kodo package that includes $rid ('Install-PSResource Kodo -Reinstall'; Windows PowerShell 5.1: 'Install-Module Kodo -Force'); " +
                "in a source checkout, run 'pwsh ./build.ps1' to build it for $rid; or set KODO_NATIVE_LIBRARY to the library's full path."
            throw ((New-KodoErrorRecord -ErrorId 'Kodo.NativeLibraryNotFound' `
                -Category ObjectNotFound -TargetObject $tried -Message $message))
        }
        try {
            $native = $interopType::Load($found)
        } catch {
            throw ((New-KodoErrorRecord -ErrorId 'Kodo.NativeLibraryLoadFailed' `
                -Category ResourceUnavailable -TargetObject $found -InnerException $_.Exception `
                -Message "Kodo's native library at '$found' could not be loaded: $($_.Exception.Message)"))
        }
        $nativeProtocol = $native.ProtocolVersion()
        if ($nativeProtocol -ne $script:KodoProtocolVersion) {
            throw ((New-KodoErrorRecord -ErrorId 'Kodo.ProtocolMismatch' `
                -Category InvalidOperation -TargetObject $found `
                -Message "Kodo's native library at '$found' (version $($native.Version())) speaks protocol $nativeProtocol; this module speaks protocol $($script:KodoProtocolVersion). Rebuild the module with ./build.ps1 so both come from the same source."))
        }
        $script:KodoNative = $native
        Write-Verbose "Loaded Kodo native library $($native.Version()) from $found"
    }
    $native = $script:KodoNative

    if ($LibraryInfo) {
        return [pscustomobject]@{
            Path            = $native.Path
            Version         = $native.Version()
            ProtocolVersion = [int]$native.ProtocolVersion()
        }
    }

    # --- Session ---------------------------------------------------------------------------
    $sessionKey = if ($DebugHooks) { 'Debug' } else { 'Default' }
    $session = [IntPtr]::Zero
    if ($script:KodoSessions.ContainsKey($sessionKey)) {
        $session = $script:KodoSessions[$sessionKey]
    } else {
        $config = [ordered]@{ v = $script:KodoProtocolVersion; debugHooks = [bool]$DebugHooks }
        $status = $native.SessionNew((ConvertTo-Json -InputObject $config -Compress), [ref]$session)
        if ([string]$status -ne 'Ok') {
            throw ((ConvertTo-KodoStatusErrorRecord -Status ([string]$status) -Message $native.LastErrorMessage() -Operation 'kodo_session_new'))
        }
        $script:KodoSessions[$sessionKey] = $session
    }

    # --- Start -----------------------------------------------------------------------------
    $op = [IntPtr]::Zero
    switch ($PSCmdlet.ParameterSetName) {
        'Request' {
            $body = [ordered]@{ v = $script:KodoProtocolVersion }
            foreach ($key in $Request.Keys) { $body[$key] = $Request[$key] }
            $status = $native.OpStart($session, (ConvertTo-Json -InputObject $body -Compress -Depth 20), [ref]$op)
        }
        'Json' { $status = $native.OpStart($session, $RequestJson, [ref]$op) }
        'Bytes' { $status = $native.OpStartBytes($session, $RequestBytes, [ref]$op) }
    }
    if ([string]$status -ne 'Ok') {
        throw ((ConvertTo-KodoStatusErrorRecord -Status ([string]$status) -Message $native.LastErrorMessage() -Operation 'kodo_op_start'))
    }

    # --- Poll events on this thread ----------------------------------------------------------
    $script:KodoProgressId++
    $progressId = $script:KodoProgressId
    $activity = $null
    $ended = $false
    $result = $null
    $failure = $null
    $cancelled = $null
    try {
        while ($true) {
            $json = $null
            $status = $native.OpNextEvent($op, [uint32]$PollMilliseconds, [ref]$json)
            $statusName = [string]$status
            if ($statusName -eq 'Pending') { continue }
            if ($statusName -eq 'Done') { break }
            if ($statusName -ne 'Ok') {
                throw ((ConvertTo-KodoStatusErrorRecord -Status $statusName -Message $native.LastErrorMessage() -Operation 'kodo_op_next_event'))
            }
            $evt = ConvertFrom-Json -InputObject $json
            $type = [string]$evt.type
            if ($type -eq 'progress') {
                $activity = [string]$evt.activity
                $record = New-Object -TypeName System.Management.Automation.ProgressRecord -ArgumentList @($progressId, $activity, [string]$evt.status)
                $percent = $evt.PSObject.Properties['percent']
                if ($percent -and $null -ne $percent.Value) { $record.PercentComplete = [int]$percent.Value }
                $Cmdlet.WriteProgress($record)
            } elseif ($type -eq 'log') {
                $level = [string]$evt.level
                if ($level -eq 'verbose') { Write-Verbose -Message ([string]$evt.message) }
                elseif ($level -eq 'debug') { $Cmdlet.WriteDebug([string]$evt.message) }
                else { $Cmdlet.WriteInformation([string]$evt.message, [string[]]@('Kodo')) }
            } elseif ($type -eq 'warning') {
                Write-Warning -Message ([string]$evt.message)
            } elseif ($type -eq 'prompt') {
                $data = $evt.PSObject.Properties['data']
                $kind = $null
                if ($data -and $data.Value -and $data.Value.PSObject.Properties['kind']) { $kind = [string]$data.Value.kind }
                if ($kind -eq 'sign') {
                    # The certificate's private key stays in .NET (e.g. the Windows certificate
                    # store): Rust hands over the bytes to sign and gets the signature back.
                    $answer = Get-KodoSignatureAnswer -Request $data.Value -Certificate $SigningCertificate
                    $null = $native.OpRespond($op, (ConvertTo-Json -InputObject $answer -Compress))
                } elseif ($kind -eq 'deliver') {
                    # A result with a new secret: written to the pipeline first, then Kodo is told,
                    # and clears the secret's mark on the app (onboarding/delivery.rs).
                    # Where the secret went (a vault, else the result object) goes back for the
                    # bulk run's ledger: a place, never the value.
                    $delivered = $false
                    $location = $null
                    if ($OnItem) {
                        foreach ($o in @(& $OnItem $data.Value.item @OnItemArgument)) {
                            if ($o -is [System.Management.Automation.ErrorRecord]) { $Cmdlet.WriteError($o) } else {
                                if ($o.PSObject.Properties['CredentialLocation'] -and $o.CredentialLocation) { $location = [string]$o.CredentialLocation }
                                $Cmdlet.WriteObject($o)
                            }
                        }
                        $delivered = $true
                    }
                    $answer = [ordered]@{ v = $script:KodoProtocolVersion; requestId = [string]$data.Value.requestId; delivered = $delivered }
                    if ($location) { $answer['location'] = $location }
                    $null = $native.OpRespond($op, (ConvertTo-Json -InputObject $answer -Compress))
                } elseif ($kind -eq 'approve') {
                    # The operation planned its changes from what it read and waits: each step
                    # goes through the caller's ShouldProcess (-WhatIf, -Confirm), and only the
                    # approved ones are carried out, in the same operation (no second read).
                    $approvedIds = New-Object -TypeName System.Collections.Generic.List[string]
                    $steps = @($data.Value.plan | Where-Object { $_ })
                    foreach ($step in $steps) {
                        if ($Cmdlet.ShouldProcess([string]$step.target, [string]$step.action)) { $approvedIds.Add([string]$step.id) }
                    }
                    $answer = [ordered]@{ v = $script:KodoProtocolVersion; requestId = [string]$data.Value.requestId; approved = @($approvedIds) }
                    $null = $native.OpRespond($op, (ConvertTo-Json -InputObject $answer -Compress))
                } else {
                    if ($kind -eq 'browser') {
                        # The browser sign-in: Kodo listens on loopback for the browser's answer.
                        $null = Open-KodoBrowser -Url ([string]$data.Value.url)
                    }
                    # Shown like Write-Host: visible at a console and in a runbook's job output.
                    $hostMessage = New-Object -TypeName System.Management.Automation.HostInformationMessage
                    $hostMessage.Message = [string]$evt.message
                    $Cmdlet.WriteInformation($hostMessage, [string[]]@('PSHOST', 'Kodo.Prompt'))
                }
            } elseif ($type -eq 'item') {
                if ($OnItem) {
                    foreach ($o in @(& $OnItem $evt.data @OnItemArgument)) {
                        if ($o -is [System.Management.Automation.ErrorRecord]) { $Cmdlet.WriteError($o) } else { $Cmdlet.WriteObject($o) }
                    }
                }
            } elseif ($type -eq 'result') {
                $result = $evt.data
                $ended = $true
            } elseif ($type -eq 'error') {
                $failure = $evt.error
                $ended = $true
            } elseif ($type -eq 'cancelled') {
                $cancelled = [string]$evt.message
                $ended = $true
            }
        }
    } finally {
        if (-not $ended) {
            # Stopped (Ctrl+C) or failed while polling: cancel, and wait briefly for the
            # operation to acknowledge, so nothing keeps running behind the user's back.
            $null = $native.OpCancel($op)
            $deadline = [DateTime]::UtcNow.AddSeconds(5)
            while ([DateTime]::UtcNow -lt $deadline) {
                $ignored = $null
                if ([string]$native.OpNextEvent($op, 100, [ref]$ignored) -eq 'Done') { break }
            }
        }
        $null = $native.OpFree($op)
        if ($activity) {
            try {
                $done = New-Object -TypeName System.Management.Automation.ProgressRecord -ArgumentList @($progressId, $activity, 'Done')
                $done.RecordType = [System.Management.Automation.ProgressRecordType]::Completed
                $Cmdlet.WriteProgress($done)
            } catch {
                # The pipeline is stopping; nothing can be written now.
                $null = $_
            }
        }
    }

    if ($null -ne $failure) {
        $target = $failure.PSObject.Properties['target']
        $requestId = $failure.PSObject.Properties['requestId']
        $clientRequestId = $failure.PSObject.Properties['clientRequestId']
        $category = [System.Management.Automation.ErrorCategory]::NotSpecified
        $null = [Enum]::TryParse([string]$failure.category, [ref]$category)
        throw ((New-KodoErrorRecord -ErrorId ('Kodo.' + [string]$failure.code) `
            -Category $category -Message ([string]$failure.message) `
            -TargetObject $(if ($target) { $target.Value } else { $null }) `
            -RequestId $(if ($requestId) { [string]$requestId.Value } else { '' }) `
            -ClientRequestId $(if ($clientRequestId) { [string]$clientRequestId.Value } else { '' })))
    }
    if ($null -ne $cancelled) {
        throw ((New-KodoErrorRecord -ErrorId 'Kodo.Cancelled' -Category OperationStopped -Message $cancelled))
    }
    $result
}

function ConvertTo-KodoStatusErrorRecord {
    <#
    .SYNOPSIS
    Turns a failed native call's status and message into an ErrorRecord 'Kodo.Native.<Status>'.
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.ErrorRecord])]
    param(
        [Parameter(Mandatory)][string]$Status,
        [AllowNull()][AllowEmptyString()][string]$Message,
        [Parameter(Mandatory)][string]$Operation
    )

    $category = 'NotSpecified'
    if ($script:KodoStatusCategory.ContainsKey($Status)) { $category = $script:KodoStatusCategory[$Status] }
    if ([string]::IsNullOrEmpty($Message)) { $Message = "$Operation failed with status $Status." }
    New-KodoErrorRecord -ErrorId "Kodo.Native.$Status" -Category $category -TargetObject $Operation `
        -Message "Kodo's native library refused the call ($Status): $Message"
}
