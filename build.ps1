<#
.SYNOPSIS
Builds the Kodo module for this platform, and runs its tests.

.DESCRIPTION
Build: compiles the Rust native library (cargo) and the interop assembly (dotnet), and lays
both into the module folder: powershell/Kodo/runtimes/<rid>/native/ and powershell/Kodo/bin/.
Then `Import-Module ./powershell/Kodo` works.

Test: builds (Debug unless -Configuration says otherwise, sharing cargo test's artifacts),
runs the Rust tests (cargo test: unit, C boundary, C header, tenant emulator), builds the
real-client checks (MSAL.NET, Microsoft Graph SDK), runs each Pester test file in a fresh pwsh, and
ends with one summary line: "Total: N passed, N failed, N skipped".

.PARAMETER Task
Build (default), Test, Reliability, Package, or Clean.

Reliability: builds, then runs the long tier of tests/pester/Reliability.Tests.ps1
(KODO_RELIABILITY=long): a whole onboarding killed after each of its requests, in the secret
and the certificate variants, each run again to convergence, and every output scanned for
secrets; tests/pester/Faults.Tests.ps1 with 120 seeded fault runs (12 in the fast tier); and
tests/pester/Input.Tests.ps1 with all 5 000 good entries of its tenant list run (500 in the fast
tier); and tests/pester/Fleet.Tests.ps1 with KODO_FLEET_TENANTS=1000 (the parent/child runbooks over
1 000 tenants: about 10.5 minutes on a 2-core machine, debug build; 12 tenants in the fast
tier). Test runs the fast tiers. Then the C boundary: tests/c/smoke.c and tests/c/hostile.c
against the debug library under valgrind (a memory error or a definite leak fails), and
tests/ffi_fuzz.rs with KODO_FUZZ_CASES cases (default 50000). Ends with the same summary line.

Package: builds (Release), then writes under out/: gallery/Kodo/<version>/ (the module with
every runtimes/<rid>/native/ library present in powershell/Kodo, no emulator, no tests),
gallery/Kodo.Emulator/<version>/ (the kodo-emulator programs of
powershell/Kodo.Emulator/runtimes/<rid>/bin/), both published as .nupkg to the local
PSResourceGet repository folder out/repo (offline), and out/Kodo.zip for Azure Automation
(New-KodoAutomationPackage, win-x64) when the win-x64 library is present. Other runtimes'
libraries are added by copying them to powershell/Kodo/runtimes/<rid>/native/ first. With
KODO_PACKAGE_PREBUILT=1 it builds nothing and packs the module folders as they are.

.PARAMETER Runtime
The runtimes to build (default: this platform's). From Linux x64, win-x64 and linux-arm64 are
cross builds (always Release: what ships) with Debian's rustc-web and rust-web-src
(-Zbuild-std) and the mingw / aarch64 gcc that setup.sh installs; each lands in
powershell/Kodo/runtimes/<rid>/native/, and the tenant emulator for it in
powershell/Kodo.Emulator/runtimes/<rid>/bin/.

For Test: the runtimes whose tests run as well (win-x64 under wine64, linux-arm64 under
qemu-user: tests/cross/Invoke-CrossTests.ps1); default: this platform's and every cross runtime
whose toolchain is installed (`-Runtime linux-x64` for the quick loop).
For Package: the runtimes to build before packaging (default: as for Test); the packages hold
every runtime whose library is in the module folder.

.PARAMETER Configuration
Release (default for Build) or Debug (default for Test).

.PARAMETER SigningCertificate
Package: a PFX holding a code-signing certificate and its key. Every .ps1, .psm1, .psd1, .ps1xml
and every Windows DLL and EXE of both packages is Authenticode-signed (SHA-256) before they are
published, with osslsigncode where it is installed (Linux, macOS; the password reaches it on
standard input, never as an argument) and Set-AuthenticodeSignature on Windows otherwise. Linux
and macOS libraries are not Authenticode files and stay unsigned. Without it the packages are
unsigned, and the module loads unsigned in development as before.

.PARAMETER SigningPassword
Package: the PFX's password (a SecureString).

.PARAMETER TimestampUrl
Package: an RFC 3161 timestamp server (for example http://timestamp.digicert.com), so the
signatures stay valid after the certificate expires.

.EXAMPLE
pwsh ./build.ps1

.EXAMPLE
pwsh ./build.ps1 -Task Test

.EXAMPLE
pwsh ./build.ps1 -Task Package

.EXAMPLE
./build.ps1 -Task Package -SigningCertificate ./publisher.pfx -SigningPassword (Read-Host -AsSecureString) -TimestampUrl http://timestamp.digicert.com
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Reliability', 'Package', 'Clean')]
    [string]$Task = 'Build',

    [ValidateSet('Debug', 'Release')]
    [string]$Configuration,

    [string[]]$Runtime,

    # Package: a PFX with a code-signing certificate; every .ps1, .psm1, .psd1, .ps1xml and
    # Windows DLL/EXE of the packages is Authenticode-signed with it (SHA-256).
    [string]$SigningCertificate,

    # Package: the PFX's password.
    [System.Security.SecureString]$SigningPassword,

    # Package: an RFC 3161 timestamp server, so signatures outlive the certificate.
    [string]$TimestampUrl
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
# From a shell (pwsh -File), "-Runtime win-x64,linux-x64" arrives as one string.
$Runtime = @($Runtime | ForEach-Object { "$_" -split ',' } | ForEach-Object { $_.Trim() } | Where-Object { $_ })
$root = $PSScriptRoot
$moduleDir = Join-Path $root 'powershell/Kodo'
if (-not $Configuration) { $Configuration = if ($Task -in 'Test', 'Reliability') { 'Debug' } else { 'Release' } }

function Invoke-Native {
    # Runs a program, streaming its output; fails on a non-zero exit code.
    param([string]$FilePath, [string[]]$ArgumentList)
    Write-Host "> $FilePath $($ArgumentList -join ' ')"
    & $FilePath @ArgumentList
    if ($LASTEXITCODE -ne 0) { throw "$FilePath exited with code $LASTEXITCODE" }
}

function Get-RuntimeIdentifier {
    $os = if ($IsWindows -or $PSVersionTable.PSEdition -eq 'Desktop') { 'win' } elseif ($IsMacOS) { 'osx' } else { 'linux' }
    $arch = ([string][System.Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture).ToLowerInvariant()
    "$os-$arch"
}

# The runtimes built from Linux x64 by cross compiling (../shared/docs/cross-build.md).
$script:CrossTargets = @{
    'win-x64'     = @{ Triple = 'x86_64-pc-windows-gnu'; Linker = 'x86_64-w64-mingw32-gcc'; Library = 'kodo.dll'; Runner = '/usr/lib/wine/wine64' }
    'linux-arm64' = @{ Triple = 'aarch64-unknown-linux-gnu'; Linker = 'aarch64-linux-gnu-gcc'; Library = 'libkodo.so'; Runner = 'qemu-aarch64' }
}

# Whether this machine can build (and run the tests of) a cross runtime.
function Test-CrossToolchain([string]$Rid) {
    $t = $script:CrossTargets[$Rid]
    $IsLinux -and (Get-RuntimeIdentifier) -eq 'linux-x64' -and (Test-Path '/usr/bin/rustc') -and (Test-Path '/usr/lib/rustlib/src/rust/library') -and
        (Get-Command $t.Linker -ErrorAction SilentlyContinue) -and (Get-Command $t.Runner -ErrorAction SilentlyContinue)
}

# This platform's runtime and every cross runtime this machine can build.
function Get-DefaultRuntime {
    @(Get-RuntimeIdentifier) + @($script:CrossTargets.Keys | Sort-Object | Where-Object { Test-CrossToolchain $_ })
}

# One cross runtime: the library and the emulator, Release, with the standard library built for
# the target (-Zbuild-std, panics unwinding as everywhere), in target/cross/.
function Invoke-CrossBuild([string]$Rid) {
    $t = $script:CrossTargets[$Rid]
    if (-not (Test-CrossToolchain $Rid)) {
        throw "Cannot build $Rid here: it needs Linux x64 with Debian's rustc-web and rust-web-src, $($t.Linker) and $($t.Runner) (run ./setup.sh)."
    }
    $targetRoot = if ($env:CARGO_TARGET_DIR) { $env:CARGO_TARGET_DIR } else { Join-Path $root 'target' }
    $saved = @{ RUSTC = $env:RUSTC; RUSTC_BOOTSTRAP = $env:RUSTC_BOOTSTRAP; CARGO_TARGET_DIR = $env:CARGO_TARGET_DIR }
    $ccVar = 'CC_' + $t.Triple.Replace('-', '_')
    $saved[$ccVar] = [Environment]::GetEnvironmentVariable($ccVar)
    try {
        # Debian's compiler (1.96) with its standard library's source; build-std is unstable, and
        # RUSTC_BOOTSTRAP lets that compiler take it. Its own target dir: the rustup toolchain's
        # artifacts stay valid.
        $env:RUSTC = '/usr/bin/rustc'
        $env:RUSTC_BOOTSTRAP = '1'
        $env:CARGO_TARGET_DIR = Join-Path $targetRoot 'cross'
        [Environment]::SetEnvironmentVariable($ccVar, $t.Linker)
        $started = [Diagnostics.Stopwatch]::StartNew()
        Invoke-Native '/usr/bin/cargo' @('build', '--locked', '--release', '-p', 'kodo', '--lib', '-p', 'kodo-emulator', '--bin', 'kodo-emulator',
            '-Zbuild-std=std,panic_unwind,panic_abort', '--target', $t.Triple, '--config', "target.$($t.Triple).linker=`"$($t.Linker)`"")
        Write-Host ("Built {0} ({1}) in {2:n0} s" -f $Rid, $t.Triple, $started.Elapsed.TotalSeconds)
    } finally {
        # (Not SetEnvironmentVariable with $null: PowerShell passes it as an empty string.)
        foreach ($k in $saved.Keys) {
            if ($null -eq $saved[$k]) { Remove-Item -LiteralPath "Env:$k" -ErrorAction SilentlyContinue } else { Set-Item -LiteralPath "Env:$k" -Value $saved[$k] }
        }
    }
    $built = Join-Path $targetRoot "cross/$($t.Triple)/release"
    $nativeDir = Join-Path $moduleDir "runtimes/$Rid/native"
    New-Item -ItemType Directory -Force -Path $nativeDir | Out-Null
    Copy-Item -LiteralPath (Join-Path $built $t.Library) -Destination (Join-Path $nativeDir $t.Library) -Force
    Copy-KodoEmulatorBinary -Rid $Rid -BuiltDirectory $built
}

function Invoke-Build {
    $hostRid = Get-RuntimeIdentifier
    foreach ($rid in @($Runtime | Where-Object { $_ -and $_ -ne $hostRid })) {
        if (-not $script:CrossTargets.ContainsKey($rid)) { throw "Unknown runtime '$rid': this build makes $hostRid, win-x64 and linux-arm64." }
        Invoke-CrossBuild $rid
    }
    $cargoArgs = @('build', '--locked', '--workspace')
    if ($Configuration -eq 'Release') { $cargoArgs += '--release' }
    Invoke-Native cargo $cargoArgs

    $rid = Get-RuntimeIdentifier
    $libName = switch -Wildcard ($rid) { 'win-*' { 'kodo.dll' } 'osx-*' { 'libkodo.dylib' } default { 'libkodo.so' } }
    $targetDir = if ($env:CARGO_TARGET_DIR) { $env:CARGO_TARGET_DIR } else { Join-Path $root 'target' }
    $built = Join-Path $targetDir (Join-Path $Configuration.ToLowerInvariant() $libName)
    if (-not (Test-Path -LiteralPath $built)) { throw "cargo did not produce $built" }
    $nativeDir = Join-Path $moduleDir "runtimes/$rid/native"
    New-Item -ItemType Directory -Force -Path $nativeDir | Out-Null
    Copy-Item -LiteralPath $built -Destination (Join-Path $nativeDir $libName) -Force
    Copy-KodoEmulatorBinary -Rid $rid -BuiltDirectory (Split-Path $built)

    Invoke-Native dotnet @('build', (Join-Path $root 'powershell/interop/Kodo.Interop.csproj'), '-c', 'Release', '-o', (Join-Path $moduleDir 'bin'), '--nologo', '-v', 'quiet')
    Write-Host "Built Kodo ($Configuration, $rid) into $moduleDir"
}

function Invoke-Test {
    if (-not $Runtime) { $script:Runtime = Get-DefaultRuntime }
    Write-Host "Runtimes built and tested: $($Runtime -join ', ')"
    Invoke-Build
    $passed = 0; $failed = 0; $skipped = 0

    # Rust: unit tests, the C boundary, the C header.
    $cargoArgs = @('test', '--locked', '--workspace', '--color', 'never')
    if ($Configuration -eq 'Release') { $cargoArgs += '--release' }
    Write-Host "> cargo $($cargoArgs -join ' ')"
    $cargoOutput = & cargo @cargoArgs 2>&1 | ForEach-Object { $line = "$_"; Write-Host $line; $line }
    $cargoExit = $LASTEXITCODE
    foreach ($line in $cargoOutput) {
        if ($line -match '^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored') {
            $passed += [int]$Matches[1]; $failed += [int]$Matches[2]; $skipped += [int]$Matches[3]
        }
    }
    if ($cargoExit -ne 0 -and $failed -eq 0) { $failed++ ; Write-Host 'cargo test failed before running every test' }

    # Clients nobody here wrote (MSAL.NET, Microsoft Graph SDK), run against the emulator by Pester.
    Invoke-Native dotnet @('build', (Join-Path $root 'tests/clients/RealClients.csproj'), '-c', 'Release', '-o', (Join-Path $root 'out/realclients'), '--nologo', '-v', 'quiet')

    # PowerShell: Pester against the module just built, each test file in a fresh pwsh process
    # (a file's emulator, module state and runspaces end with it).
    $pwsh = (Get-Command pwsh -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1).Source
    # pwsh installed as a dotnet tool runs inside 'dotnet': find the pwsh command itself.
    if (-not $pwsh) { $pwsh = Join-Path $PSHOME 'pwsh' }
    $summaries = Join-Path $root 'out/pester'
    New-Item -ItemType Directory -Force -Path $summaries | Out-Null
    # Should a test process crash, .NET writes a crash report (its threads' native frames) that is
    # printed below, so the next reader of the CI log sees where.
    $env:DOTNET_DbgEnableMiniDump = '1'
    $env:DOTNET_DbgMiniDumpType = '1'
    $env:DOTNET_EnableCrashReport = '1'
    Get-ChildItem -Path $summaries -Filter 'crash-*' -ErrorAction SilentlyContinue | Remove-Item -Force
    foreach ($file in Get-ChildItem -Path (Join-Path $root 'tests/pester') -Filter '*.Tests.ps1' | Sort-Object Name) {
        $resultFile = Join-Path $summaries ($file.BaseName + '.json')
        # A process that dies without a summary (a crash, not a failed test) is run once more, and
        # said loudly: a crash seen once in CI (SIGSEGV in pwsh's pipeline thread, 2026-12-02) could
        # not be reproduced in isolation. A test that fails is never re-run.
        foreach ($try in 1, 2) {
            Remove-Item -LiteralPath $resultFile -ErrorAction SilentlyContinue
            $env:DOTNET_DbgMiniDumpName = Join-Path $summaries "crash-$($file.BaseName)-$try-%p.dmp"
            & $pwsh -NoProfile -NonInteractive -File (Join-Path $root 'tests/pester/Invoke-KodoTests.ps1') -SummaryPath $resultFile -Path $file.FullName
            $code = $LASTEXITCODE
            if (Test-Path -LiteralPath $resultFile) { break }
            Write-Host "CRASH: the Pester process for $($file.Name) ended (exit code $code) without a summary$(if ($try -eq 1) { '; running that file once more' })"
            foreach ($report in Get-ChildItem -Path $summaries -Filter "crash-$($file.BaseName)-$try-*.crashreport.json" -ErrorAction SilentlyContinue) {
                Write-Host "CRASH report $($report.Name) (first lines):"
                Get-Content -LiteralPath $report.FullName -TotalCount 80 | ForEach-Object { Write-Host "  $_" }
            }
        }
        if (Test-Path -LiteralPath $resultFile) {
            $summary = Get-Content -LiteralPath $resultFile -Raw | ConvertFrom-Json
            $passed += [int]$summary.Passed; $failed += [int]$summary.Failed; $skipped += [int]$summary.Skipped
            if ($null -eq $summary.Failed) { $failed++ }
        } else {
            $failed++
            Write-Host "Pester did not report a summary for $($file.Name)"
        }
    }

    # The other runtimes, each on what runs it here (wine64, qemu-user).
    foreach ($rid in @($Runtime | Where-Object { $script:CrossTargets.ContainsKey($_) })) {
        $resultFile = Join-Path $summaries "cross-$rid.json"
        Remove-Item -LiteralPath $resultFile -ErrorAction SilentlyContinue
        Write-Host "> tests for $rid (tests/cross/Invoke-CrossTests.ps1)"
        & $pwsh -NoProfile -NonInteractive -File (Join-Path $root 'tests/cross/Invoke-CrossTests.ps1') -Runtime $rid -SummaryPath $resultFile
        if (Test-Path -LiteralPath $resultFile) {
            $summary = Get-Content -LiteralPath $resultFile -Raw | ConvertFrom-Json
            $passed += [int]$summary.Passed; $failed += [int]$summary.Failed; $skipped += [int]$summary.Skipped
            Write-Host "$rid`: $($summary.Passed) passed, $($summary.Failed) failed"
        } else {
            $failed++
            Write-Host "The $rid tests did not report a summary"
        }
    }

    Write-Host ''
    Write-Host "Total: $passed passed, $failed failed, $skipped skipped"
    if ($failed -gt 0) { exit 1 }
}

# --- Package ----------------------------------------------------------------------------------

function Copy-KodoEmulatorBinary {
    # Lays the kodo-emulator program cargo built into the Kodo.Emulator module folder,
    # powershell/Kodo.Emulator/runtimes/<rid>/bin/, where Start-KodoEmulator finds it. The Kodo
    # module itself never carries it.
    param(
        # The runtime the program was built for (default: this platform's).
        [string]$Rid = (Get-RuntimeIdentifier),
        # The folder cargo wrote the program to (default: <target>/<configuration>).
        [string]$BuiltDirectory = (Join-Path $(if ($env:CARGO_TARGET_DIR) { $env:CARGO_TARGET_DIR } else { Join-Path $root 'target' }) $Configuration.ToLowerInvariant())
    )
    $name = if ($Rid -like 'win-*') { 'kodo-emulator.exe' } else { 'kodo-emulator' }
    $built = Join-Path $BuiltDirectory $name
    if (-not (Test-Path -LiteralPath $built)) { throw "cargo did not produce $built" }
    $binDir = Join-Path $root "powershell/Kodo.Emulator/runtimes/$Rid/bin"
    New-Item -ItemType Directory -Force -Path $binDir | Out-Null
    Copy-Item -LiteralPath $built -Destination (Join-Path $binDir $name) -Force
    # Where earlier builds put it: beside the native library, inside the Kodo module.
    Remove-Item -Path (Join-Path $moduleDir "runtimes/$Rid/native/kodo-emulator*") -Force -ErrorAction SilentlyContinue
    Write-Host "Laid $name ($Rid) into $binDir"
}

function Get-KodoTargetTriple {
    # The Rust target a runtime's library was built for: what build.ps1 builds here (the host;
    # win-x64 and linux-arm64 cross builds with the GNU toolchains), or, with
    # KODO_PACKAGE_PREBUILT=1, what the release workflow builds (.github/workflows/release.yml).
    param([Parameter(Mandatory)][string]$Rid)
    $release = @{
        'win-x64' = 'x86_64-pc-windows-msvc'; 'win-arm64' = 'aarch64-pc-windows-msvc'
        'osx-x64' = 'x86_64-apple-darwin'; 'osx-arm64' = 'aarch64-apple-darwin'
        'linux-x64' = 'x86_64-unknown-linux-gnu'; 'linux-arm64' = 'aarch64-unknown-linux-gnu'
    }
    $here = @{ 'win-x64' = 'x86_64-pc-windows-gnu'; 'linux-arm64' = 'aarch64-unknown-linux-gnu'; 'linux-x64' = 'x86_64-unknown-linux-gnu' }
    $triple = if ($env:KODO_PACKAGE_PREBUILT -ne '1' -and $here.ContainsKey($Rid)) { $here[$Rid] } else { $release[$Rid] }
    if (-not $triple) { throw "No Rust target is known for the runtime '$Rid'." }
    $triple
}

function New-KodoSbom {
    # Writes a CycloneDX 1.6 JSON SBOM of a Rust package as shipped, never hand-kept: its normal
    # (not build, not dev) dependency closure for each target, with the features of the build
    # (both programs in one cargo run, as build.ps1 and the release workflow build them: `cargo
    # tree -p kodo -p kodo-emulator -e normal`), and each crate's licence and source from `cargo
    # metadata`, package URL and Cargo.lock's SHA-256 checksum. Answers the path written.
    param(
        [Parameter(Mandatory)][string]$SourceRoot,
        # The workspace package: kodo (the library) or kodo-emulator.
        [Parameter(Mandatory)][string]$Package,
        [Parameter(Mandatory)][string[]]$Triples,
        [Parameter(Mandatory)][string]$Path
    )
    $manifest = Join-Path $SourceRoot 'Cargo.toml'
    $checksums = @{}
    $lockName = $null; $lockVersion = $null
    foreach ($line in [System.IO.File]::ReadAllLines((Join-Path $SourceRoot 'Cargo.lock'))) {
        if ($line -match '^name = "(.+)"$') { $lockName = $Matches[1] }
        elseif ($line -match '^version = "(.+)"$') { $lockVersion = $Matches[1] }
        elseif ($line -match '^checksum = "([0-9a-f]{64})"$') { $checksums["$lockName@$lockVersion"] = $Matches[1] }
    }
    $meta = (& cargo metadata --format-version 1 --locked --manifest-path $manifest) | ConvertFrom-Json
    if ($LASTEXITCODE -ne 0) { throw "cargo metadata exited with code $LASTEXITCODE" }
    $byKey = @{}
    foreach ($p in $meta.packages) { $byKey["$($p.name)@$($p.version)"] = $p }

    # name@version -> its dependencies (name@version), over every target.
    $edges = @{}
    $rootKey = $null
    foreach ($triple in ($Triples | Sort-Object -Unique)) {
        $lines = & cargo tree --locked --manifest-path $manifest -p kodo -p kodo-emulator -e normal --target $triple --no-dedupe --prefix depth --format '{p}'
        if ($LASTEXITCODE -ne 0) { throw "cargo tree --target $triple exited with code $LASTEXITCODE" }
        $stack = New-Object System.Collections.Generic.List[string]
        $inPackage = $false
        foreach ($line in $lines) {
            if ($line -notmatch '^(\d+)(\S+) v(\S+)') { continue }
            $depth = [int]$Matches[1]; $key = "$($Matches[2])@$($Matches[3])"
            if ($depth -eq 0) { $inPackage = $Matches[2] -eq $Package; if ($inPackage) { $rootKey = $key } }
            if (-not $inPackage) { continue }
            while ($stack.Count -gt $depth) { $stack.RemoveAt($stack.Count - 1) }
            if (-not $edges.ContainsKey($key)) { $edges[$key] = @{} }
            if ($depth -gt 0) { $edges[$stack[$depth - 1]][$key] = $true }
            $stack.Add($key)
        }
    }
    if (-not $rootKey) { throw "cargo tree has no workspace package named '$Package'." }
    $packages = @{}
    foreach ($key in $edges.Keys) {
        if (-not $byKey.ContainsKey($key)) { throw "cargo metadata does not know $key, which cargo tree lists." }
        $packages[$key] = $byKey[$key]
    }
    $rootId = $rootKey
    $ref = { param($p) if ($p.source) { "pkg:cargo/$($p.name)@$($p.version)" } else { "$($p.name)@$($p.version)" } }
    $component = {
        param($p)
        $c = [ordered]@{ type = 'library'; 'bom-ref' = (& $ref $p); name = $p.name; version = $p.version }
        if ($p.description) { $c.description = ([string]$p.description).Trim() }
        if ($p.license) { $c.licenses = @([ordered]@{ expression = $p.license }) }
        if ($p.source) {
            $c.purl = "pkg:cargo/$($p.name)@$($p.version)"
            $sum = $checksums["$($p.name)@$($p.version)"]
            if ($sum) { $c.hashes = @([ordered]@{ alg = 'SHA-256'; content = $sum }) }
        }
        $c
    }
    $rootPackage = $packages[$rootId]
    $bom = [ordered]@{
        bomFormat    = 'CycloneDX'
        specVersion  = '1.6'
        serialNumber = 'urn:uuid:' + [guid]::NewGuid().ToString()
        version      = 1
        metadata     = [ordered]@{
            timestamp  = [datetime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ssZ')
            tools      = [ordered]@{ components = @([ordered]@{ type = 'application'; name = 'build.ps1 (cargo tree, cargo metadata)' }) }
            component  = (& $component $rootPackage)
            properties = @($Triples | Sort-Object -Unique | ForEach-Object { [ordered]@{ name = 'kodo:rust-target'; value = $_ } })
        }
        components   = @($packages.Keys | Where-Object { $_ -ne $rootId } | ForEach-Object { & $component $packages[$_] } | Sort-Object { $_.name }, { $_.version })
        dependencies = @($packages.Keys | Sort-Object | ForEach-Object {
                $id = $_
                [ordered]@{ ref = (& $ref $packages[$id]); dependsOn = @($edges[$id].Keys | ForEach-Object { & $ref $packages[$_] } | Sort-Object) }
            })
    }
    $null = New-Item -ItemType Directory -Force -Path (Split-Path -Parent $Path)
    [System.IO.File]::WriteAllText($Path, ($bom | ConvertTo-Json -Depth 10))
    $Path
}

function Set-KodoPackageSignature {
    # Authenticode-signs (SHA-256) every PowerShell file and Windows DLL/EXE under the given
    # folders with a PFX; answers the files signed. osslsigncode where it is installed (its
    # password on standard input: never an argument, never a file); on Windows without it,
    # Set-AuthenticodeSignature (Windows seam: not run on this project's Linux CI).
    param(
        [Parameter(Mandatory)][string[]]$Path,
        [Parameter(Mandatory)][string]$Certificate,
        [System.Security.SecureString]$Password,
        [string]$TimestampUrl
    )
    if (-not (Test-Path -LiteralPath $Certificate -PathType Leaf)) { throw "The signing certificate '$Certificate' does not exist." }
    $Certificate = (Resolve-Path -LiteralPath $Certificate).ProviderPath
    $extensions = @('.ps1', '.psm1', '.psd1', '.ps1xml', '.dll', '.exe')
    $files = @(Get-ChildItem -LiteralPath $Path -Recurse -File | Where-Object { $extensions -contains $_.Extension.ToLowerInvariant() } | Sort-Object FullName)
    $osslsigncode = Get-Command osslsigncode -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    $onWindows = $IsWindows -or $PSVersionTable.PSEdition -eq 'Desktop'
    if (-not $osslsigncode -and -not $onWindows) { throw 'Signing needs osslsigncode (Debian: apt-get install osslsigncode) on Linux and macOS.' }
    $windowsCertificate = $null
    foreach ($file in $files) {
        if ($osslsigncode) {
            $signed = $file.FullName + '.signed'
            $arguments = @('sign', '-pkcs12', $Certificate, '-h', 'sha256')
            if ($Password) { $arguments += @('-readpass', '/dev/stdin') }
            if ($TimestampUrl) { $arguments += @('-ts', $TimestampUrl) }
            $arguments += @('-in', $file.FullName, '-out', $signed)
            $start = New-Object System.Diagnostics.ProcessStartInfo
            $start.FileName = $osslsigncode.Source
            foreach ($a in $arguments) { $start.ArgumentList.Add($a) }
            $start.UseShellExecute = $false
            $start.RedirectStandardInput = $true
            $start.RedirectStandardOutput = $true
            $start.RedirectStandardError = $true
            $process = [System.Diagnostics.Process]::Start($start)
            if ($Password) { $process.StandardInput.Write([System.Net.NetworkCredential]::new('', $Password).Password) }
            $process.StandardInput.Close()
            $stdout = $process.StandardOutput.ReadToEndAsync()
            $stderr = $process.StandardError.ReadToEnd()
            $process.WaitForExit()
            if ($process.ExitCode -ne 0) {
                Remove-Item -LiteralPath $signed -ErrorAction SilentlyContinue
                throw "osslsigncode could not sign $($file.FullName) (exit $($process.ExitCode)): $($stderr.Trim()) $($stdout.Result.Trim())"
            }
            Move-Item -LiteralPath $signed -Destination $file.FullName -Force
        } else {
            # Windows seam (unverified here: Windows is not on this project's CI).
            if (-not $windowsCertificate) {
                $windowsCertificate = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList @($Certificate, $Password)
            }
            $options = @{ FilePath = $file.FullName; Certificate = $windowsCertificate; HashAlgorithm = 'SHA256' }
            if ($TimestampUrl) { $options.TimestampServer = $TimestampUrl }
            $result = Set-AuthenticodeSignature @options
            if (-not $result.SignerCertificate) { throw "Set-AuthenticodeSignature could not sign $($file.FullName): $($result.StatusMessage)" }
        }
        $file.FullName
    }
}

function Invoke-KodoPackage {
    # Assembles the PowerShell Gallery packages from the module folders as they are (no build):
    # <OutDirectory>/gallery/Kodo/<version>/ and gallery/Kodo.Emulator/<version>/, publishes both
    # to the local PSResourceGet repository folder <OutDirectory>/repo, and writes the Azure
    # Automation zip when the win-x64 library is there. Works offline: Publish-PSResource packs
    # the .nupkg itself and copies it into a folder repository.
    param(
        [Parameter(Mandatory)][string]$SourceRoot,
        [Parameter(Mandatory)][string]$OutDirectory,
        [string]$RepositoryName = 'KodoLocal',
        # A PFX to Authenticode-sign both packages with (Set-KodoPackageSignature).
        [string]$SigningCertificate,
        [System.Security.SecureString]$SigningPassword,
        [string]$TimestampUrl
    )
    $libraryNames = @('kodo.dll', 'libkodo.so', 'libkodo.dylib')
    $kodoSource = Join-Path $SourceRoot 'powershell/Kodo'
    $emulatorSource = Join-Path $SourceRoot 'powershell/Kodo.Emulator'
    $version = [string](Import-PowerShellDataFile -LiteralPath (Join-Path $kodoSource 'Kodo.psd1')).ModuleVersion
    $emulatorVersion = [string](Import-PowerShellDataFile -LiteralPath (Join-Path $emulatorSource 'Kodo.Emulator.psd1')).ModuleVersion
    if ($emulatorVersion -ne $version) { throw "Kodo.Emulator.psd1 says version $emulatorVersion, Kodo.psd1 says ${version}: they are released together and must agree." }

    $gallery = Join-Path $OutDirectory 'gallery'
    $kodoOut = Join-Path $gallery "Kodo/$version"
    $emulatorOut = Join-Path $gallery "Kodo.Emulator/$version"
    foreach ($dir in @((Join-Path $gallery 'Kodo'), (Join-Path $gallery 'Kodo.Emulator'))) {
        if (Test-Path -LiteralPath $dir) { Remove-Item -LiteralPath $dir -Recurse -Force }
    }
    $null = New-Item -ItemType Directory -Force -Path $kodoOut, $emulatorOut
    $license = Join-Path $SourceRoot 'LICENSE'

    # Kodo: the module's own files, the interop assembly, each runtime's native library only.
    foreach ($name in @('Kodo.psd1', 'Kodo.psm1', 'Kodo.Format.ps1xml')) { Copy-Item -LiteralPath (Join-Path $kodoSource $name) -Destination $kodoOut }
    foreach ($folder in @('Public', 'Private', 'Data', 'en-US')) {
        if (Test-Path -LiteralPath (Join-Path $kodoSource $folder)) { Copy-Item -LiteralPath (Join-Path $kodoSource $folder) -Destination $kodoOut -Recurse }
    }
    $interop = @(Get-ChildItem -LiteralPath (Join-Path $kodoSource 'bin') -Filter '*.dll' -ErrorAction SilentlyContinue)
    if (-not $interop) { throw "No interop assembly in $kodoSource/bin: run pwsh ./build.ps1 first." }
    $null = New-Item -ItemType Directory -Force -Path (Join-Path $kodoOut 'bin')
    $interop | Copy-Item -Destination (Join-Path $kodoOut 'bin')
    # Copies runtimes/<rid>/<Folder>/ files named in $Names from $Source to $Destination;
    # answers the rids copied.
    function Copy-RuntimeFiles([string]$Source, [string]$Destination, [string]$Folder, [string[]]$Names) {
        foreach ($ridDir in @(Get-ChildItem -LiteralPath (Join-Path $Source 'runtimes') -Directory -ErrorAction SilentlyContinue | Sort-Object Name)) {
            $files = @(Get-ChildItem -LiteralPath (Join-Path $ridDir.FullName $Folder) -File -ErrorAction SilentlyContinue | Where-Object { $Names -contains $_.Name })
            if (-not $files) { continue }
            $out = Join-Path $Destination "runtimes/$($ridDir.Name)/$Folder"
            $null = New-Item -ItemType Directory -Force -Path $out
            $files | Copy-Item -Destination $out
            $ridDir.Name
        }
    }
    $runtimes = @(Copy-RuntimeFiles -Source $kodoSource -Destination $kodoOut -Folder 'native' -Names $libraryNames)
    if (-not $runtimes) { throw "No native library in $kodoSource/runtimes/<rid>/native/: run pwsh ./build.ps1 first." }
    if (Test-Path -LiteralPath $license) { Copy-Item -LiteralPath $license -Destination $kodoOut }
    $stray = @(Get-ChildItem -LiteralPath $kodoOut -Recurse -File | Where-Object { $_.Name -like 'kodo-emulator*' -or $_.Name -like '*.Tests.ps1' })
    if ($stray) { throw "The Kodo package would carry $($stray.FullName -join ', ')." }

    # Kodo.Emulator: its manifest and script, each runtime's emulator program.
    foreach ($name in @('Kodo.Emulator.psd1', 'Kodo.Emulator.psm1')) { Copy-Item -LiteralPath (Join-Path $emulatorSource $name) -Destination $emulatorOut }
    $emulatorRuntimes = @(Copy-RuntimeFiles -Source $emulatorSource -Destination $emulatorOut -Folder 'bin' -Names @('kodo-emulator', 'kodo-emulator.exe'))
    if (-not $emulatorRuntimes) { throw "No emulator program in $emulatorSource/runtimes/<rid>/bin/: run pwsh ./build.ps1 first." }
    if (Test-Path -LiteralPath $license) { Copy-Item -LiteralPath $license -Destination $emulatorOut }

    # What each package was built from, per runtime (CycloneDX, from cargo metadata).
    $sbom = @(
        New-KodoSbom -SourceRoot $SourceRoot -Package 'kodo' -Triples @($runtimes | ForEach-Object { Get-KodoTargetTriple $_ }) -Path (Join-Path $kodoOut 'sbom.cdx.json')
        New-KodoSbom -SourceRoot $SourceRoot -Package 'kodo-emulator' -Triples @($emulatorRuntimes | ForEach-Object { Get-KodoTargetTriple $_ }) -Path (Join-Path $emulatorOut 'sbom.cdx.json')
    )

    # Authenticode, before the packages are packed: the .nupkg and the Automation zip carry the
    # signed files.
    $signed = @()
    if ($SigningCertificate) {
        $signed = @(Set-KodoPackageSignature -Path $kodoOut, $emulatorOut -Certificate $SigningCertificate -Password $SigningPassword -TimestampUrl $TimestampUrl)
        Write-Host "Signed $($signed.Count) files"
    }
    foreach ($manifest in @((Join-Path $kodoOut 'Kodo.psd1'), (Join-Path $emulatorOut 'Kodo.Emulator.psd1'))) {
        $null = Test-ModuleManifest -Path $manifest -ErrorAction Stop
    }

    # The local repository: a folder of .nupkg files (PSResourceGet's "local repository").
    $repo = Join-Path $OutDirectory 'repo'
    $null = New-Item -ItemType Directory -Force -Path $repo
    foreach ($old in @("Kodo.$version.nupkg", "Kodo.Emulator.$version.nupkg")) { Remove-Item -LiteralPath (Join-Path $repo $old) -ErrorAction SilentlyContinue }
    Import-Module Microsoft.PowerShell.PSResourceGet -ErrorAction Stop
    if (Get-PSResourceRepository -Name $RepositoryName -ErrorAction SilentlyContinue) { Unregister-PSResourceRepository -Name $RepositoryName }
    Register-PSResourceRepository -Name $RepositoryName -Uri $repo -Trusted
    try {
        Publish-PSResource -Path $emulatorOut -Repository $RepositoryName -ErrorAction Stop
        Publish-PSResource -Path $kodoOut -Repository $RepositoryName -ErrorAction Stop
    } finally {
        Unregister-PSResourceRepository -Name $RepositoryName
    }

    # Azure Automation: its cloud sandboxes run Windows (win-x64).
    $automation = $null
    if ($runtimes -contains 'win-x64') {
        Import-Module (Join-Path $kodoOut 'Kodo.psd1') -Force
        $automation = (New-KodoAutomationPackage -Path $OutDirectory -ModulePath $kodoOut).Path
        Remove-Module Kodo -Force
        if ($SigningCertificate) {
            # The zip's Kodo.psm1 is the module with Public/ and Private/ written in (one file):
            # new text, signed on its own; every other file in it is already signed.
            $staging = Join-Path $OutDirectory 'automation-signing'
            if (Test-Path -LiteralPath $staging) { Remove-Item -LiteralPath $staging -Recurse -Force }
            $null = New-Item -ItemType Directory -Path $staging
            Add-Type -AssemblyName System.IO.Compression, System.IO.Compression.FileSystem
            $zip = [System.IO.Compression.ZipFile]::Open($automation, [System.IO.Compression.ZipArchiveMode]::Update)
            try {
                $entry = $zip.GetEntry('Kodo/Kodo.psm1')
                $merged = Join-Path $staging 'Kodo.psm1'
                [System.IO.Compression.ZipFileExtensions]::ExtractToFile($entry, $merged)
                $null = Set-KodoPackageSignature -Path $staging -Certificate $SigningCertificate -Password $SigningPassword -TimestampUrl $TimestampUrl
                $stamp = $entry.LastWriteTime
                $entry.Delete()
                $entry = $zip.CreateEntry('Kodo/Kodo.psm1', [System.IO.Compression.CompressionLevel]::Optimal)
                $entry.LastWriteTime = $stamp
                $bytes = [System.IO.File]::ReadAllBytes($merged)
                $stream = $entry.Open()
                try { $stream.Write($bytes, 0, $bytes.Length) } finally { $stream.Dispose() }
            } finally {
                $zip.Dispose()
                Remove-Item -LiteralPath $staging -Recurse -Force
            }
        }
    } else {
        Write-Warning "No win-x64 library (powershell/Kodo/runtimes/win-x64/native/kodo.dll): Kodo.zip for Azure Automation, whose cloud sandboxes run Windows, is not written."
    }

    [pscustomobject]@{
        Version           = $version
        Kodo              = $kodoOut
        Runtimes          = $runtimes
        KodoEmulator      = $emulatorOut
        EmulatorRuntimes  = $emulatorRuntimes
        Repository        = $repo
        Packages          = @(Get-ChildItem -LiteralPath $repo -Filter "*.$version.nupkg" | ForEach-Object Name)
        AutomationPackage = $automation
        Sbom              = $sbom
        Signed            = $signed
    }
}

# The C boundary's long tier (issue 17): tests/c/smoke.c and tests/c/hostile.c against the debug
# library under valgrind (a memory error or a definite leak fails), and the fuzz target
# tests/ffi_fuzz.rs with KODO_FUZZ_CASES cases (default 50000). Returns the passed and failed counts.
function Invoke-CBoundaryLongTier {
    $passed = 0; $failed = 0
    Invoke-Native cargo @('build', '--locked', '--lib')
    $targetDir = if ($env:CARGO_TARGET_DIR) { $env:CARGO_TARGET_DIR } else { Join-Path $root 'target' }
    $libDir = Join-Path $targetDir 'debug'
    $work = Join-Path $root 'out/c-boundary'
    New-Item -ItemType Directory -Force -Path $work | Out-Null
    $valgrind = (Get-Command valgrind -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1).Source
    if (-not $valgrind) { Write-Host 'C boundary: valgrind is not installed (apt-get install valgrind)'; $failed++ }
    foreach ($name in @(if ($valgrind) { 'smoke', 'hostile' })) {
        $exe = Join-Path $work "kodo-c-$name"
        & cc -std=c99 -Wall -Wextra -Werror -pedantic -pthread -g -I (Join-Path $root 'include') (Join-Path $root "tests/c/$name.c") -o $exe "-L$libDir" -lkodo "-Wl,-rpath,$libDir"
        if ($LASTEXITCODE -ne 0) { Write-Host "C boundary: tests/c/$name.c did not compile"; $failed++; continue }
        $log = Join-Path $work "valgrind-$name.log"
        $env:KODO_HOSTILE_MAX_SECONDS = '900'
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        try {
            $output = & $valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite "--log-file=$log" $exe 2>&1 | ForEach-Object { "$_" }
            $code = $LASTEXITCODE
        } finally { Remove-Item Env:KODO_HOSTILE_MAX_SECONDS -ErrorAction SilentlyContinue }
        $text = Get-Content -LiteralPath $log -Raw
        $count = { param($pattern) if ($text -match $pattern) { [long]($Matches[1] -replace ',', '') } else { 0 } }
        $errors = & $count 'ERROR SUMMARY: ([\d,]+) errors'
        $definite = & $count 'definitely lost: ([\d,]+) bytes'
        $indirect = & $count 'indirectly lost: ([\d,]+) bytes'
        $possible = & $count 'possibly lost: ([\d,]+) bytes'
        $reachable = & $count 'still reachable: ([\d,]+) bytes'
        $checks = ($output | Select-String -Pattern '^(hostile: \d+ checks.*)$' | Select-Object -First 1)
        $ok = $code -eq 0 -and ($output -join "`n") -match 'all checks passed' -and $errors -eq 0 -and $definite -eq 0
        Write-Host ("C boundary: tests/c/$name.c under valgrind: {0}, exit code {1}, {2} errors, definitely lost {3} bytes, indirectly {4}, possibly {5}, still reachable {6} ({7:N0} s){8}" -f $(if ($ok) { 'passed' } else { 'FAILED' }), $code, $errors, $definite, $indirect, $possible, $reachable, $watch.Elapsed.TotalSeconds, $(if ($checks) { "; $($checks.Matches[0].Groups[1].Value)" }))
        if (-not $ok) { $output | Select-Object -Last 40 | ForEach-Object { Write-Host "  $_" }; Write-Host "  valgrind's log: $log" }
        if ($ok) { $passed++ } else { $failed++ }
    }
    $cases = if ($env:KODO_FUZZ_CASES) { $env:KODO_FUZZ_CASES } else { '50000' }
    $previous = $env:KODO_FUZZ_CASES
    $env:KODO_FUZZ_CASES = $cases
    $watch = [System.Diagnostics.Stopwatch]::StartNew()
    try {
        $fuzz = & cargo test --locked --test ffi_fuzz -- --nocapture 2>&1 | ForEach-Object { $line = "$_"; if ($line -match '^(ffi_fuzz:|test result:|thread .*panicked)') { Write-Host $line }; $line }
        $fuzzExit = $LASTEXITCODE
    } finally { if ($null -eq $previous) { Remove-Item Env:KODO_FUZZ_CASES -ErrorAction SilentlyContinue } else { $env:KODO_FUZZ_CASES = $previous } }
    $fuzzPassed = 0; $fuzzFailed = 0
    foreach ($line in $fuzz) {
        if ($line -match '^test result: \w+\. (\d+) passed; (\d+) failed') { $fuzzPassed += [int]$Matches[1]; $fuzzFailed += [int]$Matches[2] }
    }
    if ($fuzzExit -ne 0 -and $fuzzFailed -eq 0) { $fuzzFailed = 1 }
    $passed += $fuzzPassed; $failed += $fuzzFailed
    Write-Host ("C boundary: tests/ffi_fuzz.rs with KODO_FUZZ_CASES={0}: exit code {1} ({2:N0} s)" -f $cases, $fuzzExit, $watch.Elapsed.TotalSeconds)
    [pscustomobject]@{ Passed = $passed; Failed = $failed }
}

function Invoke-Reliability {
    if (-not $Runtime) { $script:Runtime = Get-DefaultRuntime }
    Invoke-Build
    $pwsh = (Get-Command pwsh -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1).Source
    if (-not $pwsh) { $pwsh = Join-Path $PSHOME 'pwsh' }
    $summaries = Join-Path $root 'out/pester'
    New-Item -ItemType Directory -Force -Path $summaries | Out-Null
    # The long tiers of the Pester suites: kill points (every variant), 120 seeded fault runs,
    # hostile input with a 5 000-row tenant list, the parent/child runbooks over 1 000 tenants.
    $summary = [pscustomobject]@{ Passed = 0; Failed = 0; Skipped = 0 }
    $env:KODO_RELIABILITY = 'long'
    $env:KODO_FLEET_TENANTS = '1000'
    try {
        foreach ($suite in 'Reliability', 'Faults', 'Input', 'Fleet') {
            $resultFile = Join-Path $summaries "$suite-long.json"
            Remove-Item -LiteralPath $resultFile -ErrorAction SilentlyContinue
            & $pwsh -NoProfile -NonInteractive -File (Join-Path $root 'tests/pester/Invoke-KodoTests.ps1') -SummaryPath $resultFile -Path (Join-Path $root "tests/pester/$suite.Tests.ps1")
            $one = if (Test-Path -LiteralPath $resultFile) { Get-Content -LiteralPath $resultFile -Raw | ConvertFrom-Json } else { [pscustomobject]@{ Passed = 0; Failed = 1; Skipped = 0 } }
            foreach ($k in 'Passed', 'Failed', 'Skipped') { $summary.$k += [int]$one.$k }
        }
    } finally {
        Remove-Item Env:KODO_RELIABILITY -ErrorAction SilentlyContinue
        Remove-Item Env:KODO_FLEET_TENANTS -ErrorAction SilentlyContinue
    }

    # The C boundary: smoke.c and hostile.c under valgrind, the fuzz target with many cases.
    $cBoundary = Invoke-CBoundaryLongTier
    $summary = [pscustomobject]@{ Passed = [int]$summary.Passed + $cBoundary.Passed; Failed = [int]$summary.Failed + $cBoundary.Failed; Skipped = [int]$summary.Skipped }

    # --- The emulator under load (issue 17): 200 clients for a minute at >= 10 000 requests a
    # minute against the emulator program built in Release (the program a user runs; a Debug
    # build served 8 400 a minute on a 2-core VM), in a process of its own so that its
    # peak memory is its own; the test prints requests/min, p50/p99 latency, errors and memory.
    $loadPassed = $false
    try {
        Invoke-Native cargo @('build', '--locked', '--release', '-p', 'kodo-emulator', '--bin', 'kodo-emulator')
        $loadTarget = if ($env:CARGO_TARGET_DIR) { $env:CARGO_TARGET_DIR } else { Join-Path $root 'target' }
        $emulatorName = if ($IsWindows -or $PSVersionTable.PSEdition -eq 'Desktop') { 'kodo-emulator.exe' } else { 'kodo-emulator' }
        $env:KODO_LOAD_EMULATOR = Join-Path $loadTarget "release/$emulatorName"
        & cargo test --locked -p kodo-emulator --test load -- --ignored --nocapture
        $loadPassed = $LASTEXITCODE -eq 0
    } catch {
        Write-Host "The emulator load test could not run: $_"
    } finally {
        Remove-Item Env:KODO_LOAD_EMULATOR -ErrorAction SilentlyContinue
    }
    $summary = [pscustomobject]@{
        Passed  = [int]$summary.Passed + [int]$loadPassed
        Failed  = [int]$summary.Failed + [int](-not $loadPassed)
        Skipped = [int]$summary.Skipped
    }
    # --- end of the emulator under load.

    Write-Host "Total: $($summary.Passed) passed, $($summary.Failed) failed, $($summary.Skipped) skipped"
    if ([int]$summary.Failed -gt 0) { exit 1 }
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Test' { Invoke-Test }
    'Reliability' { Invoke-Reliability }
    'Package' {
        # KODO_PACKAGE_PREBUILT=1 (the release workflow): the module folders already hold every
        # runtime's library, emulator and the interop assembly; nothing is built.
        if ($env:KODO_PACKAGE_PREBUILT -ne '1') {
            if (-not $Runtime) { $script:Runtime = Get-DefaultRuntime }
            Invoke-Build
        }
        $signing = @{ SigningCertificate = $SigningCertificate; SigningPassword = $SigningPassword; TimestampUrl = $TimestampUrl }
        Invoke-KodoPackage -SourceRoot $root -OutDirectory (Join-Path $root 'out') @signing | Format-List
    }
    'Clean' {
        Invoke-Native cargo @('clean')
        foreach ($dir in @('runtimes', 'bin')) { Remove-Item -Recurse -Force -ErrorAction SilentlyContinue (Join-Path $moduleDir $dir) }
        Remove-Item -Recurse -Force -ErrorAction SilentlyContinue (Join-Path $root 'powershell/Kodo.Emulator/runtimes')
    }
}
