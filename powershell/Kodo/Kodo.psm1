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
# Set by Connect-Kodo for certificates whose key stays in .NET; used to answer 'sign' requests.
$script:KodoSigningCertificate = $null
# Set by Start-KodoEmulator.
$script:KodoEmulator = $null

# <kodo:functions> New-KodoAutomationPackage puts the functions themselves here, in one file:
# importing that is about twice as fast and takes less memory than dot-sourcing each file.
foreach ($folder in @('Private', 'Public')) {
    foreach ($file in [System.IO.Directory]::GetFiles((Join-Path $PSScriptRoot $folder), '*.ps1')) {
        . $file
    }
}
# </kodo:functions>

# Grant-KodoPermissions (plural, as KODO's documentation says it) also answers to the singular
# noun PowerShell's naming guidance prefers.
Set-Alias -Name Grant-KodoPermission -Value Grant-KodoPermissions
Export-ModuleMember -Function * -Alias Grant-KodoPermission

$ExecutionContext.SessionState.Module.OnRemove = {
    if ($script:KodoEmulator) { Stop-KodoEmulator }
    Invoke-KodoNative -CloseSessions
}
