<#
.SYNOPSIS
Runs Kodo's tests for a runtime this Linux x64 machine builds but does not run natively, and
writes a pass/fail summary as JSON (as tests/pester/Invoke-KodoTests.ps1 does).

.DESCRIPTION
win-x64, under wine64 (a wine prefix made here, set to Windows 10, and torn down):
  - kodo.dll is a PE32+ DLL that imports only DLLs every Windows 10/11 and Server 2016+ has, and
    carries a version resource with the module's version;
  - the C boundary suites (tests/c/smoke.c and tests/c/hostile.c, built with mingw against
    include/kodo.h, winpthreads linked statically);
  - the packages signed with a throwaway certificate, installed from a local repository; Windows'
    Authenticode check (under wine) of their DLLs and EXE, and of a tampered copy;
  - the module on PowerShell 7.6.9 for Windows (a hosted runspace: tests/windows/host):
    examples/Try-Kodo.ps1 against the Windows tenant emulator, then tests/windows/Kodo.Windows.Tests.ps1.
  Wine 8.0 lacks bcryptprimitives!ProcessPrng, which Rust's standard library calls: a test-only
  shim (tests/windows/prng-shim.c) goes into the test prefix's system32. It is never shipped.
linux-arm64, under qemu-aarch64: the C boundary suites (smoke.c, hostile.c).
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][ValidateSet('win-x64', 'linux-arm64')][string]$Runtime,
    [Parameter(Mandatory)][string]$SummaryPath
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$root = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
$native = Join-Path $root "powershell/Kodo/runtimes/$Runtime/native"
$results = New-Object System.Collections.Generic.List[object]
# A folder with a space and non-ASCII characters: paths must survive both.
$work = Join-Path ([System.IO.Path]::GetTempPath()) ('kodo crôss ' + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory -Path $work | Out-Null

function Add-Result([string]$Name, [bool]$Passed, [string]$Detail = '') {
    $results.Add([pscustomobject]@{ Name = $Name; Passed = $Passed; Detail = $Detail })
    Write-Host ("  [{0}] {1} ({2}){3}" -f $(if ($Passed) { '+' } else { '-' }), $Name, $Runtime, $(if ($Detail) { ": $Detail" } else { '' }))
}
# Runs a program; returns its exit code, echoing what it printed.
function Invoke-Program([string]$File, [string[]]$Arguments, [hashtable]$Environment = @{}, [switch]$Quiet) {
    $saved = @{}
    foreach ($k in $Environment.Keys) {
        $saved[$k] = [Environment]::GetEnvironmentVariable($k)
        if ($null -eq $Environment[$k]) { Remove-Item -LiteralPath "Env:$k" -ErrorAction SilentlyContinue } else { Set-Item -LiteralPath "Env:$k" -Value $Environment[$k] }
    }
    try {
        $output = & $File @Arguments 2>&1 | ForEach-Object { "$_" }
        $code = $LASTEXITCODE
    } finally {
        foreach ($k in $saved.Keys) {
            if ($null -eq $saved[$k]) { Remove-Item -LiteralPath "Env:$k" -ErrorAction SilentlyContinue } else { Set-Item -LiteralPath "Env:$k" -Value $saved[$k] }
        }
    }
    if (-not $Quiet) { $output | Where-Object { $_ -notmatch 'Read access denied for device' } | ForEach-Object { Write-Host "    $_" } }
    [pscustomobject]@{ Code = $code; Output = ($output -join "`n") }
}
function Invoke-Checked([string]$File, [string[]]$Arguments) {
    $r = Invoke-Program $File $Arguments
    if ($r.Code -ne 0) { throw "$File failed (exit code $($r.Code))" }
}
# A Linux path as wine's programs see it (wine maps / to Z:).
function ConvertTo-WinePath([string]$Path) { 'Z:' + $Path.Replace('/', '\') }

# tests/c/hostile.c, built as tests/c_header.rs builds it on Linux x64.
$hostileFlags = @('-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic', '-pthread', '-I', (Join-Path $root 'include'))

try {
    if ($Runtime -eq 'linux-arm64') {
        $lib = Join-Path $native 'libkodo.so'
        if (-not (Test-Path -LiteralPath $lib)) { throw "$lib is not built: run ./build.ps1 -Runtime linux-arm64" }
        $header = (Invoke-Program 'readelf' @('-h', $lib) -Quiet).Output
        Add-Result 'libkodo.so is an AArch64 ELF shared object' ($header -match 'AArch64' -and $header -match 'DYN')
        Copy-Item -LiteralPath $lib -Destination $work
        Invoke-Checked 'aarch64-linux-gnu-gcc' @('-std=c99', '-Wall', '-Werror', '-I', (Join-Path $root 'include'), (Join-Path $root 'tests/c/smoke.c'), '-o', (Join-Path $work 'smoke'), "-L$work", '-lkodo', '-Wl,-rpath,$ORIGIN')
        $run = Invoke-Program 'qemu-aarch64' @((Join-Path $work 'smoke')) @{ QEMU_LD_PREFIX = '/usr/aarch64-linux-gnu' }
        Add-Result 'C boundary suite (tests/c/smoke.c) under qemu-aarch64' ($run.Code -eq 0 -and $run.Output -match 'all checks passed')
        Invoke-Checked 'aarch64-linux-gnu-gcc' @($hostileFlags + @((Join-Path $root 'tests/c/hostile.c'), '-o', (Join-Path $work 'hostile'), "-L$work", '-lkodo', '-Wl,-rpath,$ORIGIN'))
        $run = Invoke-Program 'qemu-aarch64' @((Join-Path $work 'hostile')) @{ QEMU_LD_PREFIX = '/usr/aarch64-linux-gnu' }
        Add-Result 'hostile calls from C (tests/c/hostile.c) under qemu-aarch64' ($run.Code -eq 0 -and $run.Output -match 'all checks passed')
        return
    }

    # ---------------------------------------------------------------------------- win-x64
    $dll = Join-Path $native 'kodo.dll'
    if (-not (Test-Path -LiteralPath $dll)) { throw "$dll is not built: run ./build.ps1 -Runtime win-x64" }
    $emulatorExe = Join-Path $root 'powershell/Kodo.Emulator/runtimes/win-x64/bin/kodo-emulator.exe'
    if (-not (Test-Path -LiteralPath $emulatorExe)) { throw "$emulatorExe is not built: run ./build.ps1 -Runtime win-x64" }
    Import-Module Microsoft.PowerShell.PSResourceGet

    # The DLL itself: PE32+, system imports only, a version resource.
    $headers = (Invoke-Program 'x86_64-w64-mingw32-objdump' @('-p', $dll) -Quiet).Output
    $imports = @([regex]::Matches($headers, 'DLL Name: (\S+)') | ForEach-Object { $_.Groups[1].Value.ToLowerInvariant() } | Sort-Object -Unique)
    # Every Windows 10/11 and Windows Server 2016+ has these (msvcrt.dll is the system's C runtime).
    $system = 'advapi32.dll', 'bcrypt.dll', 'bcryptprimitives.dll', 'crypt32.dll', 'kernel32.dll', 'msvcrt.dll', 'ntdll.dll', 'userenv.dll', 'ws2_32.dll', 'secur32.dll', 'ole32.dll', 'oleaut32.dll', 'shell32.dll', 'user32.dll', 'ncrypt.dll'
    $foreign = @($imports | Where-Object { $_ -notin $system -and $_ -notlike 'api-ms-win-*' })
    Add-Result 'kodo.dll is PE32+ and imports only Windows system DLLs' ($headers -match 'file format pei-x86-64' -and $imports.Count -gt 0 -and $foreign.Count -eq 0) "imports: $($imports -join ', ')"
    $text = [System.Text.Encoding]::Unicode.GetString([System.IO.File]::ReadAllBytes($dll))
    $version = (Import-PowerShellDataFile (Join-Path $root 'powershell/Kodo/Kodo.psd1')).ModuleVersion
    Add-Result 'kodo.dll carries a version resource (ProductName Kodo, FileVersion of the module)' ($text -match "ProductName\x00+Kodo\x00" -and $text -match "FileVersion\x00+$([regex]::Escape($version))\x00")

    # A wine prefix of our own, as Windows 10.
    $wine = '/usr/lib/wine/wine64'
    $env:WINEPREFIX = Join-Path $work 'prefix'
    $env:WINEDEBUG = '-all'
    $env:WINEDLLOVERRIDES = 'bcryptprimitives=n,b'
    # .NET's W^X double mapping of JIT code makes wine 8 fail ("Internal CLR error 0x80131506" in
    # DynamicResolver's finalizer, seen with Pester): off for the tests under wine. Windows
    # itself runs with the default.
    $env:DOTNET_EnableWriteXorExecute = '0'
    Invoke-Checked $wine @('wineboot', '-i')
    Invoke-Checked $wine @('reg', 'add', 'HKCU\Software\Wine', '/v', 'Version', '/d', 'win10', '/f')

    # The C boundary suite.
    $c = Join-Path $work 'c'
    New-Item -ItemType Directory -Path $c | Out-Null
    Copy-Item -LiteralPath $dll -Destination $c
    # The shim goes into the test prefix's system32 (a DLL loaded by full path, as the module
    # loads kodo.dll, finds its imports there, not beside the program), and is preferred to
    # wine's own through WINEDLLOVERRIDES.
    Invoke-Checked 'x86_64-w64-mingw32-gcc' @('-shared', '-O2', '-o', (Join-Path $env:WINEPREFIX 'drive_c/windows/system32/bcryptprimitives.dll'), (Join-Path $root 'tests/windows/prng-shim.c'), '-ladvapi32')
    Invoke-Checked 'x86_64-w64-mingw32-gcc' @('-std=c99', '-Wall', '-Werror', '-I', (Join-Path $root 'include'), (Join-Path $root 'tests/c/smoke.c'), '-o', (Join-Path $c 'smoke.exe'), (Join-Path $c 'kodo.dll'))
    $run = Invoke-Program $wine @((Join-Path $c 'smoke.exe'))
    Add-Result 'C boundary suite (tests/c/smoke.c) under wine64' ($run.Code -eq 0 -and $run.Output -match 'all checks passed')
    # winpthreads linked in statically: the program needs no DLL but kodo.dll and the system's.
    Invoke-Checked 'x86_64-w64-mingw32-gcc' @($hostileFlags + @((Join-Path $root 'tests/c/hostile.c'), '-o', (Join-Path $c 'hostile.exe'), (Join-Path $c 'kodo.dll'), '-static'))
    $run = Invoke-Program $wine @((Join-Path $c 'hostile.exe'))
    Add-Result 'hostile calls from C (tests/c/hostile.c) under wine64' ($run.Code -eq 0 -and $run.Output -match 'all checks passed')

    # PowerShell 7.6.9 for Windows: the hosted runspace, with PowerShell's own Windows modules
    # (from the pwsh tool package's Windows half).
    $hostDir = Join-Path $root 'out/winhost'
    Invoke-Checked 'dotnet' @('publish', (Join-Path $root 'tests/windows/host/KodoWinHost.csproj'), '-c', 'Release', '-o', $hostDir, '--nologo', '-v', 'quiet')
    $winModules = Join-Path (Split-Path $PSHOME) 'win/Modules'
    if (-not (Test-Path -LiteralPath $winModules)) { throw "PowerShell's Windows modules were not found at $winModules (pwsh 7.6.9 as a dotnet tool has them)" }
    if (-not (Test-Path -LiteralPath (Join-Path $hostDir 'Modules'))) { Copy-Item -LiteralPath $winModules -Destination $hostDir -Recurse }
    $winHost = Join-Path $hostDir 'KodoWinHost.exe'

    # The packages as a user installs them: build.ps1's Package code publishes Kodo and
    # Kodo.Emulator to a local PSResourceGet repository, and both are saved from it into a module
    # folder whose path has a space and non-ASCII characters.
    $ast = [System.Management.Automation.Language.Parser]::ParseFile((Join-Path $root 'build.ps1'), [ref]$null, [ref]$null)
    foreach ($f in $ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.FunctionDefinitionAst] }, $false)) {
        if ($f.Name -in @('Invoke-KodoPackage', 'New-KodoSbom', 'Get-KodoTargetTriple', 'Set-KodoPackageSignature')) { . ([scriptblock]::Create($f.Extent.Text)) }
    }
    # Signed as a release is, with a throwaway certificate (openssl, two days).
    $signing = Join-Path $work 'signing'
    New-Item -ItemType Directory -Path $signing | Out-Null
    $signingKey = Join-Path $signing 'key.pem'
    $signingCert = Join-Path $signing 'cert.pem'
    Invoke-Checked 'openssl' @('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', $signingKey, '-out', $signingCert, '-days', '2',
        '-subj', '/CN=Kodo cross test signing', '-addext', 'extendedKeyUsage=codeSigning', '-addext', 'keyUsage=critical,digitalSignature')
    $pfxPassword = [guid]::NewGuid().ToString('N')
    $env:KODO_CROSS_PFX_PASSWORD = $pfxPassword
    try {
        Invoke-Checked 'openssl' @('pkcs12', '-export', '-inkey', $signingKey, '-in', $signingCert, '-out', (Join-Path $signing 'signing.pfx'), '-passout', 'env:KODO_CROSS_PFX_PASSWORD')
    } finally {
        Remove-Item Env:KODO_CROSS_PFX_PASSWORD
    }
    $securePassword = ConvertTo-SecureString -String $pfxPassword -AsPlainText -Force
    $repository = 'KodoCross' + [guid]::NewGuid().ToString('N').Substring(0, 8)
    $package = Invoke-KodoPackage -SourceRoot $root -OutDirectory (Join-Path $work 'out') -RepositoryName $repository `
        -SigningCertificate (Join-Path $signing 'signing.pfx') -SigningPassword $securePassword 3>$null
    $modules = Join-Path $work 'Modül Földer'
    New-Item -ItemType Directory -Path $modules | Out-Null
    Register-PSResourceRepository -Name $repository -Uri (Join-Path $work 'out/repo') -Trusted
    try {
        Save-PSResource -Name Kodo, Kodo.Emulator -Repository $repository -Path $modules -TrustRepository -ErrorAction Stop
    } finally {
        Unregister-PSResourceRepository -Name $repository
    }
    $installed = Join-Path $modules "Kodo/$($package.Version)"
    Add-Result 'the win-x64 package installs from the local repository with kodo.dll and no emulator' (
        (Test-Path -LiteralPath (Join-Path $installed 'runtimes/win-x64/native/kodo.dll')) -and
        @(Get-ChildItem -LiteralPath $installed -Recurse -Filter 'kodo-emulator*').Count -eq 0 -and
        (Test-Path -LiteralPath (Join-Path $modules "Kodo.Emulator/$($package.Version)/runtimes/win-x64/bin/kodo-emulator.exe")))
    # Only the installed modules answer: PowerShell's own, then the folder above.
    $userEnv = @{ PSModulePath = (ConvertTo-WinePath $modules); KODO_EMULATOR_PATH = $null; KODO_NATIVE_LIBRARY = $null }

    # Windows' own Authenticode check (WinVerifyTrust, as wine implements it) reads the PE
    # signatures osslsigncode made: the signer is the test certificate, a changed byte is a hash
    # mismatch. Wine has no PowerShell script SIP, so .ps1/.psd1 signatures are checked only by
    # osslsigncode (Package.Tests) here, not by Windows.
    $tampered = Join-Path $work 'tampered-kodo.dll'
    $bytes = [System.IO.File]::ReadAllBytes((Join-Path $installed 'runtimes/win-x64/native/kodo.dll'))
    $bytes[[int]($bytes.Length / 3)] = $bytes[[int]($bytes.Length / 3)] -bxor 0xFF
    [System.IO.File]::WriteAllBytes($tampered, $bytes)
    $signatureScript = Join-Path $work 'signatures.ps1'
    $peFiles = @((Join-Path $installed 'runtimes/win-x64/native/kodo.dll'), (Join-Path $installed 'bin/Kodo.Interop.dll'),
        (Join-Path $modules "Kodo.Emulator/$($package.Version)/runtimes/win-x64/bin/kodo-emulator.exe"), $tampered)
    Set-Content -LiteralPath $signatureScript -Encoding utf8 -Value (@($peFiles | ForEach-Object {
                "`$s = Get-AuthenticodeSignature -LiteralPath '$(ConvertTo-WinePath $_)'; 'SIG ' + [IO.Path]::GetFileName('$(ConvertTo-WinePath $_)') + ' ' + `$s.Status + ' ' + `$s.SignerCertificate.Subject"
            }) -join "`n")
    $signatures = Invoke-Program $wine @($winHost, (ConvertTo-WinePath $signatureScript)) $userEnv
    Add-Result 'Windows (WinVerifyTrust under wine) verifies the signatures of kodo.dll, Kodo.Interop.dll and kodo-emulator.exe, and refuses a tampered kodo.dll' (
        $signatures.Output -match 'SIG kodo\.dll Valid CN=Kodo cross test signing' -and
        $signatures.Output -match 'SIG Kodo\.Interop\.dll Valid CN=Kodo cross test signing' -and
        $signatures.Output -match 'SIG kodo-emulator\.exe Valid CN=Kodo cross test signing' -and
        $signatures.Output -match 'SIG tampered-kodo\.dll HashMismatch') (($signatures.Output -split "`n" | Where-Object { $_ -like 'SIG *' }) -join ' | ')

    # examples/Try-Kodo.ps1 as a user runs it, from outside the source checkout (so it imports the
    # installed Kodo, and Start-KodoEmulator finds the installed Kodo.Emulator): every row granted,
    # a re-run changes nothing.
    Copy-Item -LiteralPath (Join-Path $root 'examples/Try-Kodo.ps1') -Destination $work
    $try = Invoke-Program $wine @($winHost, (ConvertTo-WinePath (Join-Path $work 'Try-Kodo.ps1'))) $userEnv
    $granted = ([regex]::Matches($try.Output, '\bGranted\b')).Count
    Add-Result 'examples/Try-Kodo.ps1 on PowerShell 7.6.9 for Windows' ($try.Code -eq 0 -and $try.Output -match 'x86_64-pc-windows-gnu' -and $granted -gt 20 -and $try.Output -match 'AlreadyAllowed' -and $try.Output -notmatch 'WouldGrant|Skipped') "$granted rows granted"

    # The Windows Pester subset, against the installed package.
    $pesterSummary = Join-Path $work 'windows-pester.json'
    $pesterEnv = $userEnv + @{ KODO_TEST_MODULE = (ConvertTo-WinePath $installed) }
    # A host that dies without a summary (seen once under load: exit code 1, no output) is run
    # once more, and said loudly, as build.ps1 does for the Linux Pester files.
    foreach ($try in 1, 2) {
        $pester = Invoke-Program $wine @($winHost, (ConvertTo-WinePath (Join-Path $root 'tests/pester/Invoke-KodoTests.ps1')), '-SummaryPath', (ConvertTo-WinePath $pesterSummary), '-Path', (ConvertTo-WinePath (Join-Path $root 'tests/windows/Kodo.Windows.Tests.ps1'))) $pesterEnv
        if (Test-Path -LiteralPath $pesterSummary) { break }
        Write-Host "CRASH: PowerShell for Windows under wine ended (exit code $($pester.Code)) without a Pester summary$(if ($try -eq 1) { '; running it once more' })"
    }
    if (Test-Path -LiteralPath $pesterSummary) {
        $s = Get-Content -LiteralPath $pesterSummary -Raw | ConvertFrom-Json
        for ($i = 0; $i -lt [int]$s.Passed; $i++) { $results.Add([pscustomobject]@{ Name = 'Windows Pester'; Passed = $true; Detail = '' }) }
        for ($i = 0; $i -lt [int]$s.Failed; $i++) { $results.Add([pscustomobject]@{ Name = 'Windows Pester'; Passed = $false; Detail = '' }) }
        Write-Host "  Windows Pester (tests/windows/Kodo.Windows.Tests.ps1): $($s.Passed) passed, $($s.Failed) failed, $($s.Skipped) skipped"
    } else {
        Add-Result 'Windows Pester subset reported a summary' $false "exit code $($pester.Code): $(($pester.Output -split "`n" | Select-Object -First 5) -join ' | ')"
    }
} catch {
    Add-Result 'cross-runtime test set-up' $false "$_"
} finally {
    if ($Runtime -eq 'win-x64' -and $env:WINEPREFIX) {
        $null = Invoke-Program '/usr/lib/wine/wineserver' @('-k')
        Start-Sleep -Milliseconds 500
    }
    Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue
    [ordered]@{
        Passed  = @($results | Where-Object Passed).Count
        Failed  = @($results | Where-Object { -not $_.Passed }).Count
        Skipped = 0
    } | ConvertTo-Json | Set-Content -LiteralPath $SummaryPath -Encoding utf8
}
