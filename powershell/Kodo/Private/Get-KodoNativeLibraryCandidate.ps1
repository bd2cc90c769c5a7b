function Get-KodoNativeLibraryCandidate {
    <#
    .SYNOPSIS
    The paths where the native library may be, in the order they are tried.
    .DESCRIPTION
    KODO_NATIVE_LIBRARY, when set, is the only candidate: an explicit override that silently
    fell back to another build would hide the mistake. Otherwise the library is looked for in
    runtimes/<rid>/native/ of the module folder, <rid> being this process's OS and architecture.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param()

    $override = [Environment]::GetEnvironmentVariable('KODO_NATIVE_LIBRARY')
    if (-not [string]::IsNullOrWhiteSpace($override)) {
        return [System.IO.Path]::GetFullPath($override)
    }

    $rid = Get-KodoRuntimeIdentifier
    $fileName = switch -Wildcard ($rid) {
        'win-*' { 'kodo.dll' }
        'osx-*' { 'libkodo.dylib' }
        default { 'libkodo.so' }
    }
    [System.IO.Path]::Combine($script:KodoModuleRoot, 'runtimes', $rid, 'native', $fileName)
}

function Get-KodoRuntimeIdentifier {
    <#
    .SYNOPSIS
    The .NET runtime identifier (win-x64, linux-arm64, ...) of this process.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param()

    $os = if ($PSVersionTable.PSEdition -eq 'Desktop') {
        'win'
    } elseif ([System.Runtime.InteropServices.RuntimeInformation]::IsOSPlatform([System.Runtime.InteropServices.OSPlatform]::Windows)) {
        'win'
    } elseif ([System.Runtime.InteropServices.RuntimeInformation]::IsOSPlatform([System.Runtime.InteropServices.OSPlatform]::OSX)) {
        'osx'
    } else {
        'linux'
    }

    $arch = $null
    try {
        $arch = [string][System.Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture
    } catch {
        # .NET Framework before 4.7.1 has no RuntimeInformation.
        $arch = if ([Environment]::Is64BitProcess) { 'X64' } else { 'X86' }
    }
    '{0}-{1}' -f $os, $arch.ToLowerInvariant()
}
