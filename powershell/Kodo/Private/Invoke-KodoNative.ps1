# The native room: the only script that touches Kodo's interop assembly and native library
# (Module.Tests checks it). Invoke-KodoNative is the hot path of every command; the functions
# after it hold what it meets rarely, and the loader (Initialize-KodoNative) what it meets once.

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

        # Answers a bulk run's 'certificate' questions (one tenant's new certificate): called
        # with the question and -OnItemArgument, returns the certificate's public part (base64
        # DER) and keeps its key for -OnItem, which hands it to the admin with the result.
        [scriptblock]$OnCertificate,

        # Certificates whose private keys answer this operation's 'sign' prompts, besides the
        # connected one.
        [System.Security.Cryptography.X509Certificates.X509Certificate2[]]$SigningCertificate,

        [ValidateRange(10, 60000)]
        [int]$PollMilliseconds = 200
    )

    if (-not $Cmdlet) { $Cmdlet = $PSCmdlet }
    # This function runs in every command and PowerShell compiles all of it on its first call:
    # what most operations never meet (prompts, items, a failure, a cancel) is in the functions
    # below, compiled only when met.
    if ($CloseSessions) { Close-KodoNativeSession; return }
    $native = $script:KodoNative
    if ($null -eq $native) { $native = Initialize-KodoNative }
    if ($LibraryInfo) {
        return [pscustomobject]@{ Path = $native.Path; Version = $native.Version(); ProtocolVersion = [int]$native.ProtocolVersion() }
    }

    # --- Session: one per kind, kept for the process --------------------------------------
    $sessionKey = if ($DebugHooks) { 'Debug' } else { 'Default' }
    $session = $script:KodoSessions[$sessionKey]
    if ($null -eq $session) {
        $session = [IntPtr]::Zero
        $config = '{"v":' + $script:KodoProtocolVersion + ',"debugHooks":' + $(if ($DebugHooks) { 'true' } else { 'false' }) + '}'
        $status = $native.SessionNew($config, [ref]$session)
        if ([string]$status -ne 'Ok') {
            throw ((ConvertTo-KodoStatusErrorRecord -Status ([string]$status) -Message $native.LastErrorMessage() -Operation 'kodo_session_new'))
        }
        $script:KodoSessions[$sessionKey] = $session
    }

    # --- Start -----------------------------------------------------------------------------
    $op = [IntPtr]::Zero
    $text = $RequestJson
    if ($PSCmdlet.ParameterSetName -eq 'Request') {
        $body = [ordered]@{ v = $script:KodoProtocolVersion }
        foreach ($key in $Request.Keys) { $body[$key] = $Request[$key] }
        $text = ConvertTo-KodoNativeJson $body
    }
    if ($PSCmdlet.ParameterSetName -eq 'Bytes') {
        $status = $native.OpStartBytes($session, $RequestBytes, [ref]$op)
    } else {
        $status = $native.OpStart($session, $text, [ref]$op)
    }
    $text = $null
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
    try {
        while ($true) {
            $json = $null
            $statusName = [string]$native.OpNextEvent($op, [uint32]$PollMilliseconds, [ref]$json)
            if ($statusName -eq 'Pending') { continue }
            if ($statusName -eq 'Done') { break }
            if ($statusName -ne 'Ok') {
                throw ((ConvertTo-KodoStatusErrorRecord -Status $statusName -Message $native.LastErrorMessage() -Operation 'kodo_op_next_event'))
            }
            $evt = ConvertFrom-Json -InputObject $json
            $type = [string]$evt.type
            if ($type -eq 'result') {
                $result = $evt.data
                $ended = $true
            } elseif ($type -eq 'log' -and [string]$evt.level -eq 'debug') {
                # Every operation says which library runs it.
                $Cmdlet.WriteDebug([string]$evt.message)
            } elseif ($type -eq 'error' -or $type -eq 'cancelled') {
                $failure = $evt
                $ended = $true
            } else {
                $shown = Receive-KodoNativeEvent -Native $native -Operation $op -NativeEvent $evt -Cmdlet $Cmdlet -ProgressId $progressId `
                    -OnItem $OnItem -OnItemArgument $OnItemArgument -OnCertificate $OnCertificate -SigningCertificate $SigningCertificate
                if ($shown) { $activity = $shown }
            }
        }
    } finally {
        # Freed whatever happens while cancelling (the pipeline may be stopping).
        try {
            if (-not $ended) { Stop-KodoNativeOperation -Native $native -Operation $op }
        } finally {
            $null = $native.OpFree($op)
        }
        if ($activity) { Complete-KodoNativeProgress -Cmdlet $Cmdlet -ProgressId $progressId -Activity $activity }
    }

    if ($null -ne $failure) { throw (ConvertTo-KodoNativeFailure -NativeEvent $failure) }
    $result
}

function ConvertTo-KodoNativeJson {
    <#
    .SYNOPSIS
    The JSON of a request or of a prompt's answer: plain values (strings, booleans, numbers, null,
    dictionaries, lists) written by the interop assembly, anything else (a PowerShell object, an
    enum, a date) by ConvertTo-Json, whole, so that each is written by exactly one of the two.
    #>
    param($Value)
    # Not an advanced function: it runs in every call. ($text is untyped: a [string] variable
    # would turn the null that means "not plain" into ''.)
    $text = [Kodo.Interop.KodoJson]::TryWrite($Value)
    if ($null -eq $text) { $text = ConvertTo-Json -InputObject $Value -Compress -Depth 20 }
    $text
}

function Receive-KodoNativeEvent {
    <#
    .SYNOPSIS
    One event of a running operation, other than its end, to the caller's streams: progress, log
    lines, warnings, list items, and the prompts the operation waits on (a signature, a secret's
    delivery, approval of its plan, a message to show). Returns the activity of a progress event.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]$Native,
        [Parameter(Mandatory)][IntPtr]$Operation,
        [Parameter(Mandatory)]$NativeEvent,
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet,
        [int]$ProgressId,
        [scriptblock]$OnItem,
        [object[]]$OnItemArgument = @(),
        [scriptblock]$OnCertificate,
        [System.Security.Cryptography.X509Certificates.X509Certificate2[]]$SigningCertificate
    )

    $evt = $NativeEvent
    $type = [string]$evt.type
    if ($type -eq 'progress') {
        $activity = [string]$evt.activity
        $record = New-Object -TypeName System.Management.Automation.ProgressRecord -ArgumentList @($ProgressId, $activity, [string]$evt.status)
        $percent = $evt.PSObject.Properties['percent']
        if ($percent -and $null -ne $percent.Value) { $record.PercentComplete = [int]$percent.Value }
        $Cmdlet.WriteProgress($record)
        return $activity
    }
    if ($type -eq 'log') {
        $level = [string]$evt.level
        if ($level -eq 'verbose') { Write-Verbose -Message ([string]$evt.message) }
        elseif ($level -eq 'debug') { $Cmdlet.WriteDebug([string]$evt.message) }
        else { $Cmdlet.WriteInformation([string]$evt.message, [string[]]@('Kodo')) }
    } elseif ($type -eq 'warning') {
        Write-Warning -Message ([string]$evt.message)
    } elseif ($type -eq 'item') {
        if ($OnItem) {
            foreach ($o in @(& $OnItem $evt.data @OnItemArgument)) {
                if ($o -is [System.Management.Automation.ErrorRecord]) { $Cmdlet.WriteError($o) } else { $Cmdlet.WriteObject($o) }
            }
        }
    } elseif ($type -eq 'prompt') {
        $data = $evt.PSObject.Properties['data']
        $kind = $null
        if ($data -and $data.Value -and $data.Value.PSObject.Properties['kind']) { $kind = [string]$data.Value.kind }
        if ($kind -eq 'sign') {
            # The certificate's private key stays in .NET (e.g. the Windows certificate
            # store): Rust hands over the bytes to sign and gets the signature back.
            $answer = Get-KodoSignatureAnswer -Request $data.Value -Certificate $SigningCertificate
            $null = $Native.OpRespond($Operation, (ConvertTo-KodoNativeJson $answer))
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
            $null = $Native.OpRespond($Operation, (ConvertTo-KodoNativeJson $answer))
        } elseif ($kind -eq 'certificate') {
            # A bulk run's tenant is at its credential: its certificate is made here and its
            # private key stays in this process (for the PFX written with the tenant's result).
            $answer = [ordered]@{ v = $script:KodoProtocolVersion; requestId = [string]$data.Value.requestId }
            if ($OnCertificate) {
                try {
                    $answer['certificate'] = [string](& $OnCertificate $data.Value @OnItemArgument)
                } catch {
                    $answer['reason'] = "the certificate could not be made ($($_.Exception.Message))"
                }
            } else {
                $answer['reason'] = 'this command makes no certificates'
            }
            $null = $Native.OpRespond($Operation, (ConvertTo-KodoNativeJson $answer))
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
            $null = $Native.OpRespond($Operation, (ConvertTo-KodoNativeJson $answer))
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
    }
}

function Stop-KodoNativeOperation {
    <#
    .SYNOPSIS
    Cancels an operation that was stopped (Ctrl+C, PowerShell.Stop()) or failed while polling,
    and waits briefly for it to acknowledge, so nothing keeps running behind the user's back.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)]$Native, [Parameter(Mandatory)][IntPtr]$Operation)

    $null = $Native.OpCancel($Operation)
    $deadline = [DateTime]::UtcNow.AddSeconds(5)
    while ([DateTime]::UtcNow -lt $deadline) {
        $ignored = $null
        if ([string]$Native.OpNextEvent($Operation, 100, [ref]$ignored) -eq 'Done') { break }
    }
}

function Complete-KodoNativeProgress {
    <#
    .SYNOPSIS
    Ends an operation's progress bar.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet, [int]$ProgressId, [string]$Activity)

    try {
        $done = New-Object -TypeName System.Management.Automation.ProgressRecord -ArgumentList @($ProgressId, $Activity, 'Done')
        $done.RecordType = [System.Management.Automation.ProgressRecordType]::Completed
        $Cmdlet.WriteProgress($done)
    } catch {
        # The pipeline is stopping; nothing can be written now.
        $null = $_
    }
}

function Close-KodoNativeSession {
    <#
    .SYNOPSIS
    Frees the native sessions (when the module is removed).
    #>
    [CmdletBinding()]
    param()

    if ($script:KodoNative) {
        foreach ($handle in @($script:KodoSessions.Values)) {
            $null = $script:KodoNative.SessionFree($handle)
        }
    }
    $script:KodoSessions = @{}
}

function ConvertTo-KodoNativeFailure {
    <#
    .SYNOPSIS
    An operation's 'error' event as an ErrorRecord 'Kodo.<Code>' with the category, target and
    request ids the library gives; a 'cancelled' event as 'Kodo.Cancelled'.
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.ErrorRecord])]
    param([Parameter(Mandatory)]$NativeEvent)

    if ([string]$NativeEvent.type -eq 'cancelled') {
        return (New-KodoErrorRecord -ErrorId 'Kodo.Cancelled' -Category OperationStopped -Message ([string]$NativeEvent.message))
    }
    $failure = $NativeEvent.error
    $target = $failure.PSObject.Properties['target']
    $requestId = $failure.PSObject.Properties['requestId']
    $clientRequestId = $failure.PSObject.Properties['clientRequestId']
    $category = [System.Management.Automation.ErrorCategory]::NotSpecified
    $null = [Enum]::TryParse([string]$failure.category, [ref]$category)
    New-KodoErrorRecord -ErrorId ('Kodo.' + [string]$failure.code) `
        -Category $category -Message ([string]$failure.message) `
        -TargetObject $(if ($target) { $target.Value } else { $null }) `
        -RequestId $(if ($requestId) { [string]$requestId.Value } else { '' }) `
        -ClientRequestId $(if ($clientRequestId) { [string]$clientRequestId.Value } else { '' })
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

function Initialize-KodoNative {
    <#
    .SYNOPSIS
    Loads the native library on first use and returns it (a Kodo.Interop.KodoNative).
    .DESCRIPTION
    KODO_NATIVE_LIBRARY, when set, is the only library tried; otherwise runtimes/<rid>/native/
    of the module folder (Kodo.Interop.KodoModule). The library must speak this module's
    protocol. Each failure is a terminating ErrorRecord with a stable id, raised before any
    request is sent.
    #>
    [CmdletBinding()]
    [OutputType([object])]
    param()

    Import-KodoInterop
    $found = [Kodo.Interop.KodoModule]::FindLibrary($script:KodoModuleRoot)
    if (-not $found) { throw (New-KodoNativeNotFoundError) }
    try {
        $native = [Kodo.Interop.KodoNative]::Load($found)
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
    $native
}

function New-KodoNativeNotFoundError {
    <#
    .SYNOPSIS
    The ErrorRecord for a native library that is not where it is looked for: the paths tried, and
    the platforms this copy of the module does carry (a package built without this platform, or
    a damaged installation).
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.ErrorRecord])]
    param()

    $nl = [Environment]::NewLine
    $rid = Get-KodoRuntimeIdentifier
    $tried = [Kodo.Interop.KodoModule]::LibraryCandidates($script:KodoModuleRoot)
    $list = ($tried | ForEach-Object { "  $_" }) -join $nl
    $have = [Kodo.Interop.KodoModule]::CarriedRuntimes($script:KodoModuleRoot)
    $message = "Kodo's native library for this platform ($rid) was not found. Paths tried:$nl$list$nl" +
        "This copy of Kodo $($ExecutionContext.SessionState.Module.Version) carries the library for: $(if ($have.Length) { $have -join ', ' } else { 'no platform' }). " +
        "Install a Kodo package that includes $rid ('Install-PSResource Kodo -Reinstall'; Windows PowerShell 5.1: 'Install-Module Kodo -Force'); " +
        "in a source checkout, run 'pwsh ./build.ps1' to build it for $rid; or set KODO_NATIVE_LIBRARY to the library's full path."
    New-KodoErrorRecord -ErrorId 'Kodo.NativeLibraryNotFound' -Category ObjectNotFound -TargetObject $tried -Message $message
}

function Import-KodoInterop {
    <#
    .SYNOPSIS
    Loads Kodo's interop assembly (bin/Kodo.Interop.dll) once per process.
    .DESCRIPTION
    The assembly binds the native library's exports and does, in compiled code, what runs before
    the first native call (where the library is; the requests' JSON). Loading it costs a few
    milliseconds, so it happens on first use, not at import.
    #>
    [CmdletBinding()]
    [OutputType([void])]
    param()

    if ($null -ne ('Kodo.Interop.KodoModule' -as [type])) { return }
    $interopPath = [System.IO.Path]::Combine($script:KodoModuleRoot, 'bin', 'Kodo.Interop.dll')
    if (-not [System.IO.File]::Exists($interopPath)) {
        throw ((New-KodoErrorRecord -ErrorId 'Kodo.InteropAssemblyNotFound' `
            -Category ObjectNotFound -TargetObject $interopPath `
            -Message "Kodo's interop assembly was not found at '$interopPath'. The module is not built: run ./build.ps1 from the Kodo source folder."))
    }
    $null = [System.Reflection.Assembly]::LoadFrom($interopPath)
}

function Get-KodoRuntimeIdentifier {
    <#
    .SYNOPSIS
    The .NET runtime identifier (win-x64, linux-arm64, ...) of this process.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param()

    Import-KodoInterop
    [Kodo.Interop.KodoModule]::RuntimeIdentifier()
}
