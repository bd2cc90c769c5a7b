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

    # A throwaway code-signing certificate (self-signed, two days), as CI signs with; the release
    # workflow signs with the publisher's. Its password reaches the packaging process in the
    # environment, never in a command line.
    foreach ($tool in 'openssl', 'osslsigncode') {
        if (-not (Get-Command $tool -CommandType Application -ErrorAction SilentlyContinue)) { throw "$tool is needed to sign the packages (run ./setup.sh)." }
    }
    $script:Signing = Join-Path $script:Work 'signing'
    New-Item -ItemType Directory -Path $script:Signing | Out-Null
    $script:SigningCa = Join-Path $script:Signing 'cert.pem'
    $script:SigningPassword = [guid]::NewGuid().ToString('N')
    $key = Join-Path $script:Signing 'key.pem'
    & openssl req -x509 -newkey rsa:2048 -nodes -keyout $key -out $script:SigningCa -days 2 -subj '/CN=Kodo test code signing (throwaway)' `
        -addext 'extendedKeyUsage=codeSigning' -addext 'keyUsage=critical,digitalSignature' 2>$null
    if ($LASTEXITCODE -ne 0) { throw 'openssl could not make the test signing certificate' }
    $script:SigningPfx = Join-Path $script:Signing 'signing.pfx'
    $env:KODO_TEST_PFX_PASSWORD = $script:SigningPassword
    try {
        & openssl pkcs12 -export -inkey $key -in $script:SigningCa -out $script:SigningPfx -passout env:KODO_TEST_PFX_PASSWORD
        if ($LASTEXITCODE -ne 0) { throw 'openssl could not write the test PFX' }
    } finally {
        Remove-Item Env:KODO_TEST_PFX_PASSWORD
    }
    Remove-Item -LiteralPath $key

    # build.ps1 -Task Package without its build: its functions, defined from build.ps1's own text.
    $build = Join-Path $script:RepoRoot 'build.ps1'
    $packaged = Invoke-FreshPwsh -Environment @{ KODO_TEST_PFX_PASSWORD = $script:SigningPassword } -Script @"
`$ErrorActionPreference = 'Stop'
`$root = '$($script:RepoRoot)'
`$ast = [System.Management.Automation.Language.Parser]::ParseFile('$build', [ref]`$null, [ref]`$null)
foreach (`$f in `$ast.FindAll({ param(`$n) `$n -is [System.Management.Automation.Language.FunctionDefinitionAst] }, `$false)) { . ([scriptblock]::Create(`$f.Extent.Text)) }
`$password = ConvertTo-SecureString -String `$env:KODO_TEST_PFX_PASSWORD -AsPlainText -Force
Remove-Item Env:KODO_TEST_PFX_PASSWORD
Invoke-KodoPackage -SourceRoot `$root -OutDirectory '$($script:Out)' -RepositoryName '$($script:Repository)' -SigningCertificate '$($script:SigningPfx)' -SigningPassword `$password |
    ConvertTo-Json -Depth 3 | Set-Content -LiteralPath '$($script:Out)/package.json'
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

Describe 'Signed and accounted for' {
    BeforeAll {
        # What an Authenticode signature covers in a package.
        $script:Signable = { param($root) @(Get-ChildItem -LiteralPath $root -Recurse -File | Where-Object { $_.Extension -in '.ps1', '.psm1', '.psd1', '.ps1xml', '.dll', '.exe' }) }
        $script:Verify = {
            param($file)
            $out = & osslsigncode verify -CAfile $script:SigningCa -in $file 2>&1
            [pscustomobject]@{ Ok = ($LASTEXITCODE -eq 0 -and "$out" -match 'Signature verification: ok'); Output = "$out" }
        }
    }

    It 'every PowerShell file and Windows binary of both installed packages carries a signature that verifies' {
        $files = @(& $script:Signable $script:InstalledKodo) + @(& $script:Signable $script:InstalledEmulator)
        $names = @($files | ForEach-Object { $_.FullName.Substring($script:Modules.Length + 1).Replace('\', '/') })
        $names | Should -Contain "Kodo/$($script:Package.Version)/Kodo.psd1"
        $names | Should -Contain "Kodo/$($script:Package.Version)/Kodo.psm1"
        $names | Should -Contain "Kodo/$($script:Package.Version)/Kodo.Format.ps1xml"
        $names | Should -Contain "Kodo/$($script:Package.Version)/bin/Kodo.Interop.dll"
        $names | Should -Contain "Kodo.Emulator/$($script:Package.Version)/Kodo.Emulator.psm1"
        if ($script:Package.Runtimes -contains 'win-x64') { $names | Should -Contain "Kodo/$($script:Package.Version)/runtimes/win-x64/native/kodo.dll" }
        if ($script:Package.EmulatorRuntimes -contains 'win-x64') { $names | Should -Contain "Kodo.Emulator/$($script:Package.Version)/runtimes/win-x64/bin/kodo-emulator.exe" }
        # Every file the packaging signed, and nothing signable left out of it.
        $script:Package.Signed.Count | Should -Be $files.Count
        $bad = @(foreach ($f in $files) { $r = & $script:Verify $f.FullName; if (-not $r.Ok) { "$($f.Name): $($r.Output)" } })
        $bad | Should -BeNullOrEmpty
        # The Automation zip is made from the signed folder.
        if ($script:Package.AutomationPackage) {
            $unzipped = Join-Path $script:Work 'automation'
            Expand-Archive -LiteralPath $script:Package.AutomationPackage -DestinationPath $unzipped
            $merged = Join-Path $unzipped 'Kodo/Kodo.psm1'
            (& $script:Verify $merged).Ok | Should -BeTrue
            ([regex]::Matches([System.IO.File]::ReadAllText($merged), '(?m)^# SIG # Begin signature block')).Count | Should -Be 1 -Because 'the signatures of the merged pieces are left out'
        }
    }

    It 'a tampered script or library fails the check' {
        $script = Join-Path $script:Work 'tampered.psm1'
        Copy-Item -LiteralPath (Join-Path $script:InstalledKodo 'Kodo.psm1') -Destination $script
        (& $script:Verify $script).Ok | Should -BeTrue
        $text = [System.IO.File]::ReadAllText($script)
        [System.IO.File]::WriteAllText($script, $text.Replace('Set-StrictMode', 'Set-StrictMode  '))
        (& $script:Verify $script).Ok | Should -BeFalse

        $library = Join-Path $script:Work 'tampered.dll'
        Copy-Item -LiteralPath (Join-Path $script:InstalledKodo 'bin/Kodo.Interop.dll') -Destination $library
        $bytes = [System.IO.File]::ReadAllBytes($library)
        $bytes[[int]($bytes.Length / 3)] = $bytes[[int]($bytes.Length / 3)] -bxor 0xFF
        [System.IO.File]::WriteAllBytes($library, $bytes)
        (& $script:Verify $library).Ok | Should -BeFalse
    }

    It 'the signed module still imports and runs, and the PFX password is in no file of the output' {
        $r = Invoke-FreshPwsh -Environment $script:Isolated -Script "Import-Module Kodo -ErrorAction Stop; (Get-KodoVersion).ModuleVersion"
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.StdOut.Trim() | Should -Be $script:Package.Version
        $hits = @(Get-ChildItem -LiteralPath $script:Out, $script:Modules -Recurse -File | Where-Object { [System.IO.File]::ReadAllText($_.FullName).Contains($script:SigningPassword) })
        $hits | Should -BeNullOrEmpty
    }

    It 'gives the PFX password to osslsigncode on standard input, never in its arguments' {
        # A stand-in osslsigncode first on PATH records its arguments and standard input, then
        # hands the file through; build.ps1's signing code runs in a fresh pwsh against it.
        $bin = Join-Path $script:Work 'fake-bin'
        $record = Join-Path $script:Work 'osslsigncode-record'
        New-Item -ItemType Directory -Path $bin, (Join-Path $script:Work 'to-sign') | Out-Null
        Set-Content -LiteralPath (Join-Path $script:Work 'to-sign/a.ps1') -Value 'Write-Output 1'
        $fake = Join-Path $bin 'osslsigncode'
        Set-Content -LiteralPath $fake -Value @'
#!/bin/sh
printf '%s\n' "$@" > "$KODO_FAKE_RECORD.args"
cat > "$KODO_FAKE_RECORD.stdin"
while [ $# -gt 0 ]; do case "$1" in -in) in=$2; shift;; -out) out=$2; shift;; esac; shift; done
cp "$in" "$out"
'@
        & chmod +x $fake
        $build = Join-Path $script:RepoRoot 'build.ps1'
        $r = Invoke-FreshPwsh -Environment @{ PATH = $bin + [System.IO.Path]::PathSeparator + $env:PATH; KODO_FAKE_RECORD = $record; KODO_TEST_PFX_PASSWORD = $script:SigningPassword } -Script @"
`$ErrorActionPreference = 'Stop'
`$ast = [System.Management.Automation.Language.Parser]::ParseFile('$build', [ref]`$null, [ref]`$null)
foreach (`$f in `$ast.FindAll({ param(`$n) `$n -is [System.Management.Automation.Language.FunctionDefinitionAst] -and `$n.Name -eq 'Set-KodoPackageSignature' }, `$false)) { . ([scriptblock]::Create(`$f.Extent.Text)) }
`$password = ConvertTo-SecureString -String `$env:KODO_TEST_PFX_PASSWORD -AsPlainText -Force
Remove-Item Env:KODO_TEST_PFX_PASSWORD
Set-KodoPackageSignature -Path '$(Join-Path $script:Work 'to-sign')' -Certificate '$($script:SigningPfx)' -Password `$password -TimestampUrl 'http://timestamp.example'
"@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $arguments = Get-Content -LiteralPath "$record.args"
        $arguments | Should -Contain '-readpass'
        $arguments | Should -Contain '/dev/stdin'
        $arguments | Should -Contain '-ts' -Because 'a timestamp URL means an RFC 3161 timestamp'
        ($arguments -join ' ').Contains($script:SigningPassword) | Should -BeFalse
        Get-Content -Raw -LiteralPath "$record.stdin" | Should -BeExactly $script:SigningPassword
    }

    It 'carries a CycloneDX SBOM of the crates each package was built from, from cargo, with the checksums of Cargo.lock' {
        $lock = @{}
        $name = $null; $version = $null
        foreach ($line in Get-Content (Join-Path $script:RepoRoot 'Cargo.lock')) {
            if ($line -match '^name = "(.+)"$') { $name = $Matches[1] } elseif ($line -match '^version = "(.+)"$') { $version = $Matches[1] } elseif ($line -match '^checksum = "(.+)"$') { $lock["$name@$version"] = $Matches[1] }
        }
        foreach ($case in @(@{ Folder = $script:InstalledKodo; Crate = 'kodo' }, @{ Folder = $script:InstalledEmulator; Crate = 'kodo-emulator' })) {
            $bom = Get-Content -Raw -LiteralPath (Join-Path $case.Folder 'sbom.cdx.json') | ConvertFrom-Json
            $bom.bomFormat | Should -Be 'CycloneDX'
            $bom.specVersion | Should -Be '1.6'
            $bom.metadata.component.name | Should -Be $case.Crate
            $triples = @($bom.metadata.properties | Where-Object name -eq 'kodo:rust-target' | ForEach-Object value)
            $triples | Should -Not -BeNullOrEmpty
            # The oracle: cargo tree's normal-dependency closure for the same targets.
            # Sandwiched between two views cargo gives: the package's tree built alone (fewer
            # features) must be in it, and all of it in the workspace-wide resolution of
            # cargo metadata (every feature, dev ones too), walked along normal edges.
            $listed = @($bom.components | ForEach-Object { "$($_.name)@$($_.version)" } | Sort-Object -Unique)
            $listed.Count | Should -Be @($bom.components).Count -Because 'a crate is listed once'
            $possible = @{}
            foreach ($t in $triples) {
                $alone = @(& cargo tree --locked -p $case.Crate -e normal --target $t --prefix none --format '{p}' |
                        ForEach-Object { if ($_ -match '^(\S+) v(\S+)') { "$($Matches[1])@$($Matches[2])" } } | Where-Object { $_ -notlike "$($case.Crate)@*" } | Sort-Object -Unique)
                @($alone | Where-Object { $listed -notcontains $_ }) | Should -BeNullOrEmpty -Because "the SBOM lists every crate cargo builds into $($case.Crate) for $t"
                $meta = (& cargo metadata --format-version 1 --locked --filter-platform $t) | ConvertFrom-Json
                $nodes = @{}; foreach ($n in $meta.resolve.nodes) { $nodes[$n.id] = $n }
                $names = @{}; foreach ($p in $meta.packages) { $names[$p.id] = "$($p.name)@$($p.version)" }
                $rootId = @($meta.packages | Where-Object { $_.name -eq $case.Crate -and $meta.workspace_members -contains $_.id })[0].id
                $reach = @{}; $queue = [System.Collections.Generic.Queue[string]]::new(); $queue.Enqueue($rootId)
                while ($queue.Count) {
                    $id = $queue.Dequeue(); if ($reach.ContainsKey($id)) { continue }; $reach[$id] = $true
                    foreach ($d in $nodes[$id].deps) { if (@($d.dep_kinds | Where-Object { $null -eq $_.kind })) { $queue.Enqueue($d.pkg) } }
                }
                foreach ($id in $reach.Keys) { $possible[$names[$id]] = $true }
            }
            @($listed | Where-Object { -not $possible.ContainsKey($_) }) | Should -BeNullOrEmpty -Because 'the SBOM lists no crate the package cannot depend on'
            foreach ($c in @($bom.components | Where-Object purl)) {
                $c.purl | Should -Be "pkg:cargo/$($c.name)@$($c.version)"
                $c.hashes[0].content | Should -Be $lock["$($c.name)@$($c.version)"]
                $c.licenses[0].expression | Should -Not -BeNullOrEmpty
            }
            $bom.dependencies.ref | Should -Contain $bom.metadata.component.'bom-ref'
        }
        $kodo = Get-Content -Raw -LiteralPath (Join-Path $script:InstalledKodo 'sbom.cdx.json') | ConvertFrom-Json
        $kodo.components.name | Should -Contain 'ring'
        $kodo.components.name | Should -Not -Contain 'rsa' -Because 'the shipped library signs through ring (RUSTSEC-2023-0071)'
        $kodo.components.name | Should -Not -Contain 'cbindgen' -Because 'build tools are not shipped'
        (Get-Content -Raw -LiteralPath (Join-Path $script:InstalledEmulator 'sbom.cdx.json') | ConvertFrom-Json).components.name | Should -Contain 'rsa'
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
