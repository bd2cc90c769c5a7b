# Kodo.Emulator carries the kodo-emulator program at runtimes/<rid>/bin/, for Kodo's
# Start-KodoEmulator. Importing it is not needed: Start-KodoEmulator finds the installed module.
Set-StrictMode -Version 3.0

function Get-KodoEmulatorPath {
    <#
    .SYNOPSIS
    The full path of the kodo-emulator program this module carries for this platform.

    .DESCRIPTION
    Returns runtimes/<rid>/bin/kodo-emulator (kodo-emulator.exe on Windows) of this module's
    folder, <rid> being this process's OS and architecture (win-x64, linux-x64, linux-arm64,
    ...). When the module has no program for this platform, the error names the platform and
    the ones it has. On Linux and macOS it sets the program's execute bit, which an install from
    the Gallery does not keep.

    .EXAMPLE
    & (Get-KodoEmulatorPath) --help

    Shows the emulator program's options.

    .OUTPUTS
    System.String
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
        $arch = if ([Environment]::Is64BitProcess) { 'X64' } else { 'X86' }
    }
    $rid = '{0}-{1}' -f $os, $arch.ToLowerInvariant()
    $name = if ($os -eq 'win') { 'kodo-emulator.exe' } else { 'kodo-emulator' }
    $path = [System.IO.Path]::Combine($PSScriptRoot, 'runtimes', $rid, 'bin', $name)
    if (-not [System.IO.File]::Exists($path)) {
        $runtimes = [System.IO.Path]::Combine($PSScriptRoot, 'runtimes')
        $have = @()
        if ([System.IO.Directory]::Exists($runtimes)) {
            $have = @([System.IO.Directory]::GetDirectories($runtimes) | ForEach-Object { [System.IO.Path]::GetFileName($_) })
        }
        $message = "Kodo.Emulator $($MyInvocation.MyCommand.Module.Version) has no kodo-emulator program for this platform ($rid) at '$path'. It has: $(if ($have) { $have -join ', ' } else { 'none' })."
        $exception = New-Object -TypeName System.IO.FileNotFoundException -ArgumentList @($message, $path)
        $PSCmdlet.ThrowTerminatingError((New-Object -TypeName System.Management.Automation.ErrorRecord -ArgumentList @(
                    $exception, 'Kodo.EmulatorRuntimeNotFound', [System.Management.Automation.ErrorCategory]::ObjectNotFound, $path)))
    }
    # A .nupkg keeps no Unix file modes: a program installed from the Gallery is not executable.
    if ($os -ne 'win') {
        try {
            if ($null -ne [System.IO.File].GetMethod('GetUnixFileMode', [type[]]@([string]))) {
                $mode = [System.IO.File]::GetUnixFileMode($path)
                if (($mode -band [System.IO.UnixFileMode]::UserExecute) -eq 0) {
                    [System.IO.File]::SetUnixFileMode($path, ($mode -bor [System.IO.UnixFileMode]'UserExecute, GroupExecute, OtherExecute'))
                }
            } else {
                $output = & chmod 'a+x' $path 2>&1
                if ($LASTEXITCODE -ne 0) { throw [string]$output }
            }
        } catch {
            Write-Warning "'$path' is not executable and could not be made so ($($_.Exception.Message)). Run: chmod +x '$path'"
        }
    }
    $path
}

Export-ModuleMember -Function Get-KodoEmulatorPath
