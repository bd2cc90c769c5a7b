function Find-KodoEmulatorProgram {
    <#
    .SYNOPSIS
    The full path of the kodo-emulator program Start-KodoEmulator runs.
    .DESCRIPTION
    Looks, in this order: KODO_EMULATOR_PATH, when set (the only candidate then: an explicit
    path that silently fell back to another program would hide the mistake); the Kodo.Emulator
    module beside this one (../Kodo.Emulator: a source checkout); the installed Kodo.Emulator
    modules (Get-Module -ListAvailable; this module's version first, then the newest). The
    program is runtimes/<rid>/bin/kodo-emulator[.exe] of that module. The emulator is not part
    of the Kodo package: runbooks and admins talk to real tenants. A program installed from the
    Gallery arrives without its Unix execute bit (a .nupkg keeps no file modes): it is set here.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param()

    $rid = Get-KodoRuntimeIdentifier
    $name = if ($rid -like 'win-*') { 'kodo-emulator.exe' } else { 'kodo-emulator' }

    $override = [Environment]::GetEnvironmentVariable('KODO_EMULATOR_PATH')
    if (-not [string]::IsNullOrWhiteSpace($override)) {
        $override = [System.IO.Path]::GetFullPath($override)
        if (-not [System.IO.File]::Exists($override)) {
            throw (New-KodoErrorRecord -ErrorId 'Kodo.EmulatorNotFound' -Category ObjectNotFound -TargetObject $override `
                -Message "KODO_EMULATOR_PATH names '$override', which does not exist. Set it to the kodo-emulator program, or remove it to use the Kodo.Emulator module.")
        }
        return $override
    }

    $folders = New-Object -TypeName System.Collections.Generic.List[string]
    $sibling = [System.IO.Path]::Combine([System.IO.Path]::GetDirectoryName($script:KodoModuleRoot), 'Kodo.Emulator')
    if ([System.IO.File]::Exists([System.IO.Path]::Combine($sibling, 'Kodo.Emulator.psd1'))) { $folders.Add($sibling) }
    $myVersion = $ExecutionContext.SessionState.Module.Version
    $installed = @(Get-Module -ListAvailable -Name Kodo.Emulator -ErrorAction SilentlyContinue |
            Sort-Object -Property @{ Expression = { $_.Version -eq $myVersion }; Descending = $true }, @{ Expression = { $_.Version }; Descending = $true })
    foreach ($module in $installed) {
        if (-not $folders.Contains($module.ModuleBase)) { $folders.Add($module.ModuleBase) }
    }

    $tried = @()
    foreach ($folder in $folders) {
        $candidate = [System.IO.Path]::Combine($folder, 'runtimes', $rid, 'bin', $name)
        if ([System.IO.File]::Exists($candidate)) {
            Set-KodoExecutable -Path $candidate
            return $candidate
        }
        $tried += $candidate
    }

    $nl = [Environment]::NewLine
    $where = if ($tried) { "${nl}Kodo.Emulator was found without a program for this platform; paths tried:$nl$(($tried | ForEach-Object { "  $_" }) -join $nl)" } else { '' }
    throw (New-KodoErrorRecord -ErrorId 'Kodo.EmulatorNotInstalled' -Category ObjectNotFound -TargetObject $rid `
        -Message ("The Kodo tenant emulator for this platform ($rid) is not installed. It is a separate module: install it with 'Install-PSResource Kodo.Emulator' (Windows PowerShell 5.1: 'Install-Module Kodo.Emulator'); in a source checkout, run 'pwsh ./build.ps1'. Or set KODO_EMULATOR_PATH to the kodo-emulator program.$where"))
}
