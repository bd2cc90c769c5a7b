function Set-KodoExecutable {
    <#
    .SYNOPSIS
    Makes a program file executable on Linux and macOS, where a package install may have lost the mode.
    .DESCRIPTION
    A .nupkg is a zip without Unix file modes: a program installed from the PowerShell Gallery
    (Install-PSResource, Save-PSResource) arrives without its execute bit. This sets it (user,
    group, other) when the user's is missing. Nothing to do on Windows.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string]$Path)

    if ([System.IO.Path]::DirectorySeparatorChar -eq '\') { return }
    try {
        if ($null -ne [System.IO.File].GetMethod('GetUnixFileMode', [type[]]@([string]))) {
            # .NET 7 and later (PowerShell 7.4+).
            $mode = [System.IO.File]::GetUnixFileMode($Path)
            if (($mode -band [System.IO.UnixFileMode]::UserExecute) -ne 0) { return }
            [System.IO.File]::SetUnixFileMode($Path, ($mode -bor [System.IO.UnixFileMode]'UserExecute, GroupExecute, OtherExecute'))
        } else {
            $output = & chmod 'a+x' $Path 2>&1
            if ($LASTEXITCODE -ne 0) { throw [string]$output }
        }
    } catch {
        throw (New-KodoErrorRecord -ErrorId 'Kodo.ProgramNotExecutable' -Category PermissionDenied -TargetObject $Path -InnerException $_.Exception `
            -Message "'$Path' is not executable and could not be made so ($($_.Exception.Message)). Run: chmod +x '$Path'")
    }
}
