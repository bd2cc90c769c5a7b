# The Gallery packages as a user gets them: build.ps1's Package code (Invoke-KodoPackage, run on
# the module folders as built, no cargo) publishes Kodo and Kodo.Emulator to a local
# PSResourceGet repository; they are installed from it into an empty module path and used from
# there, in fresh pwsh processes that see no source checkout.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:Rid = Get-TestRuntimeIdentifier
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('kodo-package-' + [guid]::NewGuid().ToString('N'))
    $script:Out = Join-Path $script:Work 'out'
    $script:Modules = Join-Path $script:Work 'modules'
    $script:Repository = 'KodoTest' + [guid]::NewGuid().ToString('N').Substring(0, 8)
    New-Item -ItemType Directory -Path $script:Out, $script:Modules | Out-Null
    # No source checkout, no overrides: only the installed modules may answer.
    $script:Isolated = @{
        KODO_EMULATOR_PATH  = $null
        KODO_NATIVE_LIBRARY = $null
        PSModulePath        = $script:Modules + [System.IO.Path]::PathSeparator + (Join-Path $PSHOME 'Modules')
    }

    # build.ps1 -Task Package without its build: its functions, defined from build.ps1's own text.
    $build = Join-Path $script:RepoRoot 'build.ps1'
    $packaged = Invoke-FreshPwsh -Script @"
`$ErrorActionPreference = 'Stop'
`$root = '$($script:RepoRoot)'
`$ast = [System.Management.Automation.Language.Parser]::ParseFile('$build', [ref]`$null, [ref]`$null)
foreach (`$f in `$ast.FindAll({ param(`$n) `$n -is [System.Management.Automation.Language.FunctionDefinitionAst] }, `$false)) { . ([scriptblock]::Create(`$f.Extent.Text)) }
Invoke-KodoPackage -SourceRoot `$root -OutDirectory '$($script:Out)' -RepositoryName '$($script:Repository)' | ConvertTo-Json -Depth 3 | Set-Content -LiteralPath '$($script:Out)/package.json'
"@
    if ($packaged.ExitCode -ne 0) { throw "Invoke-KodoPackage failed: $($packaged.StdErr) $($packaged.StdOut)" }
    $script:Package = Get-Content -Raw -LiteralPath (Join-Path $script:Out 'package.json') | ConvertFrom-Json

    # Install both from the local repository, as a user would from the Gallery.
    Register-PSResourceRepository -Name $script:Repository -Uri (Join-Path $script:Out 'repo') -Trusted
    try {
        Save-PSResource -Name Kodo, Kodo.Emulator -Repository $script:Repository -Path $script:Modules -TrustRepository -ErrorAction Stop
    } finally {
        Unregister-PSResourceRepository -Name $script:Repository
    }
    $script:InstalledKodo = Join-Path $script:Modules "Kodo/$($script:Package.Version)"
    $script:InstalledEmulator = Join-Path $script:Modules "Kodo.Emulator/$($script:Package.Version)"
}

AfterAll {
    Remove-Item -Recurse -Force -LiteralPath $script:Work -ErrorAction SilentlyContinue
}

Describe 'build.ps1 -Task Package' {
    It 'publishes Kodo and Kodo.Emulator, of one version, to the local repository' {
        $script:Package.Version | Should -Be (Import-PowerShellDataFile $script:ManifestPath).ModuleVersion
        @($script:Package.Packages | Sort-Object) | Should -Be @("Kodo.$($script:Package.Version).nupkg", "Kodo.Emulator.$($script:Package.Version).nupkg")
        $script:Package.Runtimes | Should -Contain $script:Rid
        $script:Package.EmulatorRuntimes | Should -Contain $script:Rid
    }

    It 'leaves the emulator and the tests out of the Kodo package, and puts its native library in' {
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $nupkg = Join-Path $script:Out "repo/Kodo.$($script:Package.Version).nupkg"
        $zip = [System.IO.Compression.ZipFile]::OpenRead($nupkg)
        try { $entries = @($zip.Entries | ForEach-Object FullName) } finally { $zip.Dispose() }
        @($entries | Where-Object { $_ -match '(^|/)kodo-emulator[^/]*$' }) | Should -BeNullOrEmpty
        @($entries | Where-Object { $_ -like '*.Tests.ps1' -or $_ -like 'tests/*' }) | Should -BeNullOrEmpty
        $lib = if ($script:Rid -like 'win-*') { 'kodo.dll' } else { 'libkodo.so' }
        $entries | Should -Contain "runtimes/$($script:Rid)/native/$lib"
        $entries | Should -Contain 'bin/Kodo.Interop.dll'
        @(Get-ChildItem -LiteralPath $script:InstalledKodo -Recurse -File | Where-Object Name -like 'kodo-emulator*') | Should -BeNullOrEmpty
    }

    It 'writes the Azure Automation zip with the win-x64 kodo.dll (the cloud sandbox runs Windows)' -Skip:(-not (Test-Path (Join-Path $PSScriptRoot '../../powershell/Kodo/runtimes/win-x64/native/kodo.dll'))) {
        # Skipped only where win-x64 is not built (no cross toolchain: setup.sh installs it).
        $script:Package.AutomationPackage | Should -Exist
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [System.IO.Compression.ZipFile]::OpenRead($script:Package.AutomationPackage)
        try { $entries = @($zip.Entries | ForEach-Object { $_.FullName.Replace('\', '/') }) } finally { $zip.Dispose() }
        $entries | Should -Contain 'Kodo/runtimes/win-x64/native/kodo.dll'
        $entries | Should -Contain 'Kodo/Kodo.psd1'
        @($entries | Where-Object { $_ -like '*kodo-emulator*' }) | Should -BeNullOrEmpty
    }

    It 'puts the emulator program in Kodo.Emulator, at runtimes/<rid>/bin' {
        $name = if ($script:Rid -like 'win-*') { 'kodo-emulator.exe' } else { 'kodo-emulator' }
        Join-Path $script:InstalledEmulator "runtimes/$($script:Rid)/bin/$name" | Should -Exist
        (Import-PowerShellDataFile (Join-Path $script:InstalledEmulator 'Kodo.Emulator.psd1')).ModuleVersion | Should -Be $script:Package.Version
    }
}

Describe 'The installed packages' {
    It 'run examples/Try-Kodo.ps1: Kodo from the installed module, the emulator from the installed Kodo.Emulator' {
        # A copy of the example, away from the checkout, imports the installed Kodo.
        $example = Join-Path $script:Work 'Try-Kodo.ps1'
        Copy-Item -LiteralPath (Join-Path $script:RepoRoot 'examples/Try-Kodo.ps1') -Destination $example
        $r = Invoke-FreshPwsh -Environment $script:Isolated -Script @"
`$ErrorActionPreference = 'Stop'
Import-Module Kodo
"kodo=`$((Get-Module Kodo).ModuleBase)"
"native=`$((Get-KodoVersion).NativeLibraryPath)"
`$e = Start-KodoEmulator
"emulator=`$(`$e.Process.MainModule.FileName)"
Stop-KodoEmulator
Remove-Module Kodo
& '$example'
"@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.StdOut | Should -Match ('kodo=' + [regex]::Escape($script:InstalledKodo))
        $r.StdOut | Should -Match ('native=' + [regex]::Escape((Join-Path $script:InstalledKodo "runtimes/$($script:Rid)/native")))
        $r.StdOut | Should -Match ('emulator=' + [regex]::Escape((Join-Path $script:InstalledEmulator "runtimes/$($script:Rid)/bin")))
        $r.StdOut | Should -Match 'Running it again changes nothing'
        $r.StdOut | Should -Match 'Configured|AlreadyConfigured'
    }

    It 'without Kodo.Emulator, Start-KodoEmulator says how to get it' {
        $r = Invoke-FreshPwsh -Environment @{
            KODO_EMULATOR_PATH = $null; KODO_NATIVE_LIBRARY = $null
            PSModulePath       = (Join-Path $script:Work 'kodo-only') + [System.IO.Path]::PathSeparator + (Join-Path $PSHOME 'Modules')
        } -Script @"
New-Item -ItemType Directory -Force '$(Join-Path $script:Work 'kodo-only')' | Out-Null
Copy-Item -Recurse -Force '$(Join-Path $script:Modules 'Kodo')' '$(Join-Path $script:Work 'kodo-only')'
Import-Module Kodo
try { Start-KodoEmulator; 'no error' } catch { `$_.FullyQualifiedErrorId; `$_.CategoryInfo.Category; `$_.Exception.Message }
"@
        $r.StdOut | Should -Match 'Kodo\.EmulatorNotInstalled,Start-KodoEmulator'
        $r.StdOut | Should -Match 'ObjectNotFound'
        $r.StdOut | Should -Match 'Install-PSResource Kodo\.Emulator'
        $r.StdOut | Should -Match ([regex]::Escape("($($script:Rid))"))
    }

    It 'without its native library, Kodo gives one error that names the platform and what to install' {
        $copy = Join-Path $script:Work 'damaged'
        New-Item -ItemType Directory -Path $copy | Out-Null
        Copy-Item -Recurse -LiteralPath (Join-Path $script:Modules 'Kodo') -Destination $copy
        Get-ChildItem -LiteralPath (Join-Path $copy "Kodo/$($script:Package.Version)/runtimes/$($script:Rid)/native") -File | Remove-Item
        $r = Invoke-FreshPwsh -Environment @{ KODO_EMULATOR_PATH = $null; KODO_NATIVE_LIBRARY = $null; PSModulePath = $copy + [System.IO.Path]::PathSeparator + (Join-Path $PSHOME 'Modules') } -Script @"
Import-Module Kodo
`$Error.Clear()
try { Get-KodoVersion; 'no error' } catch { "id=`$(`$_.FullyQualifiedErrorId)"; "category=`$(`$_.CategoryInfo.Category)"; `$_.Exception.Message }
"errors=`$(`$Error.Count)"
"@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.StdOut | Should -Match 'id=Kodo\.NativeLibraryNotFound,Get-KodoVersion'
        $r.StdOut | Should -Match 'category=ObjectNotFound'
        $r.StdOut | Should -Match ([regex]::Escape("for this platform ($($script:Rid))"))
        $r.StdOut | Should -Match 'Install-PSResource Kodo'
        $r.StdOut | Should -Match 'errors=1'
    }
}
