# Kodo module root. Import does no native work: the native library and its interop assembly
# are loaded on first use (Azure Automation test-imports modules; import must stay cheap and
# side-effect free).
Set-StrictMode -Version 3.0

$script:KodoModuleRoot = $PSScriptRoot
# Protocol version of the JSON requests this module sends; the native library must speak it.
$script:KodoProtocolVersion = 1
# Loaded lazily by Invoke-KodoNative.
$script:KodoNative = $null
$script:KodoSessions = @{}
$script:KodoProgressId = 0

foreach ($folder in @('Private', 'Public')) {
    foreach ($file in [System.IO.Directory]::GetFiles((Join-Path $PSScriptRoot $folder), '*.ps1')) {
        . $file
    }
}

$ExecutionContext.SessionState.Module.OnRemove = {
    Invoke-KodoNative -CloseSessions
}
