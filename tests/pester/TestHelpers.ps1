# Shared by the Pester files (dot-sourced in BeforeAll / BeforeDiscovery).
$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
$script:ModuleDir = Join-Path $script:RepoRoot 'powershell/Kodo'
$script:ManifestPath = Join-Path $script:ModuleDir 'Kodo.psd1'
# Windows PowerShell 5.1 (the release workflow runs the files there too) has no $IsWindows.
$script:OnWindows = $PSVersionTable.PSEdition -eq 'Desktop' -or $IsWindows
# The child processes run the same PowerShell as the tests: powershell.exe under 5.1.
# pwsh installed as a dotnet tool runs inside 'dotnet': find the pwsh command itself.
$script:Pwsh = if ($PSVersionTable.PSEdition -eq 'Desktop') { (Get-Process -Id $PID).Path } else { (Get-Command pwsh -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1).Source }
if (-not $script:Pwsh) { $script:Pwsh = Join-Path $PSHOME 'pwsh' }
# KODO_TEST_CLOCK_OFFSET_MS: every emulator a test file starts keeps Microsoft's clock that far
# ahead of this machine's (negative: behind), to sweep the suites for clock-skew defects.
if ($env:KODO_TEST_CLOCK_OFFSET_MS) { $PSDefaultParameterValues['Start-KodoEmulator:ClockOffsetMs'] = [int]$env:KODO_TEST_CLOCK_OFFSET_MS }

function Set-ProcessArgument {
    # ProcessStartInfo.ArgumentList is .NET Core only; .NET Framework gets one quoted string.
    param([System.Diagnostics.ProcessStartInfo]$StartInfo, [string[]]$Arguments)
    if ($StartInfo.PSObject.Properties['ArgumentList']) {
        foreach ($a in $Arguments) { $StartInfo.ArgumentList.Add($a) }
    } else {
        $StartInfo.Arguments = ($Arguments | ForEach-Object { '"' + $_.Replace('"', '\"') + '"' }) -join ' '
    }
}

function New-PwshStartInfo {
    # How to run a script file in a new pwsh (no profile, no terminal, output redirected). $null
    # in -Environment removes a variable.
    param([Parameter(Mandatory)][string]$File, [hashtable]$Environment = @{})
    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = $script:Pwsh
    Set-ProcessArgument $psi @('-NoProfile', '-NonInteractive', '-File', $File)
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.UseShellExecute = $false
    $psi.Environment['TERM'] = 'dumb'
    $psi.Environment['NO_COLOR'] = '1'
    foreach ($k in $Environment.Keys) {
        if ($null -eq $Environment[$k]) { $null = $psi.Environment.Remove($k) } else { $psi.Environment[$k] = [string]$Environment[$k] }
    }
    $psi
}

function Invoke-FreshPwsh {
    # Runs a script in a new pwsh process (no profile, no terminal); returns exit code, stdout
    # and stderr. $null in -Environment removes a variable.
    param([Parameter(Mandatory)][string]$Script, [hashtable]$Environment = @{})
    $file = Join-Path ([System.IO.Path]::GetTempPath()) ("kodo-test-" + [guid]::NewGuid() + '.ps1')
    Set-Content -LiteralPath $file -Value $Script -Encoding utf8
    try {
        $p = [System.Diagnostics.Process]::Start((New-PwshStartInfo -File $file -Environment $Environment))
        $stdout = $p.StandardOutput.ReadToEndAsync()
        $stderr = $p.StandardError.ReadToEndAsync()
        if (-not $p.WaitForExit(120000)) { $p.Kill(); throw 'child pwsh did not finish in 120 s' }
        [pscustomobject]@{ ExitCode = $p.ExitCode; StdOut = $stdout.Result; StdErr = $stderr.Result }
    } finally {
        Remove-Item -LiteralPath $file -ErrorAction SilentlyContinue
    }
}

function Get-CargoVersion {
    $line = Get-Content (Join-Path $script:RepoRoot 'Cargo.toml') | Where-Object { $_ -match '^version\s*=\s*"([^"]+)"' } | Select-Object -First 1
    $null = $line -match '"([^"]+)"'
    $Matches[1]
}

function Get-TestRuntimeIdentifier {
    $os = if ($script:OnWindows) { 'win' } elseif ($IsMacOS) { 'osx' } else { 'linux' }
    '{0}-{1}' -f $os, ([string][System.Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture).ToLowerInvariant()
}

function Get-EmulatorPath {
    # Where Start-KodoEmulator finds it in a source checkout: KODO_EMULATOR_PATH, else the
    # Kodo.Emulator module beside Kodo (build.ps1 lays it in runtimes/<rid>/bin/).
    if ($env:KODO_EMULATOR_PATH) { return $env:KODO_EMULATOR_PATH }
    $name = if ($script:OnWindows) { 'kodo-emulator.exe' } else { 'kodo-emulator' }
    $rid = Get-TestRuntimeIdentifier
    $path = Join-Path $script:RepoRoot "powershell/Kodo.Emulator/runtimes/$rid/bin/$name"
    if (-not (Test-Path -LiteralPath $path)) { throw "kodo-emulator is not built ($path): run ./build.ps1" }
    $path
}

function Start-TestEmulator {
    # Starts kodo-emulator, reads its first stdout line; returns the process and the parsed info.
    param([string[]]$Arguments = @())
    $dir = Join-Path ([System.IO.Path]::GetTempPath()) ("kodo-emu-" + [guid]::NewGuid())
    New-Item -ItemType Directory -Path $dir | Out-Null
    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = Get-EmulatorPath
    Set-ProcessArgument $psi (@('--listen', '127.0.0.1:0', '--state-dir', $dir) + $Arguments)
    $psi.RedirectStandardOutput = $true
    $psi.UseShellExecute = $false
    $p = [System.Diagnostics.Process]::Start($psi)
    $line = $p.StandardOutput.ReadLine()
    if (-not $line) { throw 'kodo-emulator printed nothing' }
    $infoPath = Join-Path $dir 'announcement.json'
    Set-Content -LiteralPath $infoPath -Value $line -Encoding utf8
    [pscustomobject]@{ Process = $p; Info = ($line | ConvertFrom-Json); InfoPath = $infoPath; Directory = $dir }
}

function Stop-TestEmulator {
    param($Emulator)
    if ($Emulator -and $Emulator.Process -and -not $Emulator.Process.HasExited) { $Emulator.Process.Kill() ; $null = $Emulator.Process.WaitForExit(10000) }
    if ($Emulator) { Remove-Item -Recurse -Force -LiteralPath $Emulator.Directory -ErrorAction SilentlyContinue }
}

# Against the emulator a test file started (its $emu, found in the caller's scope): sign in to a
# tenant, call the control API, read the request log.
function Connect-Tenant([int]$Index) {
    $t = $emu.Tenants[$Index]
    $null = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientSecretCredential $t.BootstrapCredential
    $t
}
function Invoke-Control([string]$Method, [string]$Path, $Body) {
    $params = @{ Method = $Method; Uri = "$($emu.Url)/_emulator/$Path"; SkipCertificateCheck = $true }
    if ($null -ne $Body) { $params['Body'] = ($Body | ConvertTo-Json -Depth 8); $params['ContentType'] = 'application/json' }
    Invoke-RestMethod @params
}
function Get-Exchange($Tenant) { Invoke-Control GET "tenants/$($Tenant.TenantId)/exchange" }
function Clear-Log { $null = Invoke-RestMethod -Method Delete -Uri "$($emu.Url)/_emulator/requests" -SkipCertificateCheck }
function Get-Log { @((Invoke-RestMethod -Uri "$($emu.Url)/_emulator/requests" -SkipCertificateCheck) | ForEach-Object { $_ }) }
# Graph writes (Exchange's admin API takes every cmdlet, Get-* too, as a POST to InvokeCommand).
function Get-GraphWrites { @(Get-Log | Where-Object { $_.method -in 'POST', 'PATCH', 'DELETE' -and $_.path -like '/v1.0/*' -and $_.path -ne '/v1.0/$batch' }) }
