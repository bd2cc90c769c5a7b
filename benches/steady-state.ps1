<#
.SYNOPSIS
Steady state: what a scheduled re-run and the nightly audit cost on a tenant that is already
onboarded and correct, against the tenant emulator with latency added to every HTTP request.
.DESCRIPTION
Onboards one emulator tenant, then times -Runs of each case, each from a new connection
(Connect-Kodo, so its tokens count as a scheduled job's fresh process pays them): the re-run
(Invoke-KodoOnboarding -SkipAudit), the re-run with its audit, both again with the app's id known
(-AppId: one Graph `$batch`), the audit alone (-AuditOnly), and Test-KodoApp, also with its live
sign-in as the app (the first run's client secret). Round trips are
counted from the emulator's request log (a `$batch` is one; its items are not), per service, and
the Graph writes (a `$batch` item counted) must be 0. Writes the table to -OutFile.
SteadyState.Tests.ps1 holds the same round-trip figures as a test.
With -Processes N, the re-runs are also timed as a scheduled job runs them: each in a new pwsh
process (Import-Module, then Connect-Kodo and the re-run timed, the first native call included),
N processes per case, after the in-process cases (-Pwsh: which pwsh); then N more, each timing
Import-Module, the first Connect-Kodo, the first re-run and a second one in the same process: what
a new process pays on first use, step by step.
.EXAMPLE
pwsh ./benches/steady-state.ps1 -Runs 5 -LatencyMs 80
.EXAMPLE
pwsh ./benches/steady-state.ps1 -Runs 7 -LatencyMs 0 -Processes 5
#>
[CmdletBinding()]
param(
    [ValidateRange(1, 50)][int]$Runs = 5,
    [ValidateRange(0, 2000)][int]$LatencyMs = 80,
    [ValidateRange(0, 50)][int]$Processes = 0,
    # For -Processes: the pwsh those processes run (default: the one on PATH), e.g. the
    # ReadyToRun copy that benches/pwsh-readytorun.ps1 makes.
    [string]$Pwsh,
    [string]$OutFile = (Join-Path $PSScriptRoot 'results/steady-state.md')
)
$ErrorActionPreference = 'Stop'
$root = Resolve-Path (Join-Path $PSScriptRoot '..')
Import-Module (Join-Path $root 'powershell/Kodo/Kodo.psd1') -Force
$version = Get-KodoVersion
function Get-Median([double[]]$v) { $s = @($v | Sort-Object); $m = [int][math]::Floor($s.Count / 2); if ($s.Count % 2) { $s[$m] } else { ($s[$m - 1] + $s[$m]) / 2 } }
# One table row: a case's times (ms) and the round trips of its last run.
function New-CaseRow([string]$Case, [double[]]$Times, $Trips) {
    [pscustomobject]@{ Case = $Case; Median = [math]::Round((Get-Median $Times)); Min = [math]::Round(($Times | Measure-Object -Minimum).Minimum); Max = [math]::Round(($Times | Measure-Object -Maximum).Maximum); Trips = $Trips }
}

$emu = Start-KodoEmulator -Tenants 1 -LatencyMs $LatencyMs
try {
    $t = $emu.Tenants[0]
    function Clear-Log { $null = Invoke-RestMethod -Method Delete -Uri "$($emu.Url)/_emulator/requests" -SkipCertificateCheck }
    function Get-Trips {
        $all = @((Invoke-RestMethod -Uri "$($emu.Url)/_emulator/requests" -SkipCertificateCheck) | ForEach-Object { $_ })
        $log = @($all | Where-Object { -not $_.PSObject.Properties['batch'] -or -not $_.batch })
        [pscustomobject]@{
            Total    = $log.Count
            Token    = @($log | Where-Object { $_.path -like '*/oauth2/*' }).Count
            Graph    = @($log | Where-Object { $_.path -like '/v1.0/*' }).Count
            Exchange = @($log | Where-Object { $_.path -like '/adminapi/*' }).Count
            Writes   = @($all | Where-Object { $_.method -in 'POST', 'PATCH', 'PUT', 'DELETE' -and $_.path -like '/v1.0/*' -and $_.path -ne '/v1.0/$batch' }).Count
        }
    }
    $connect = { $null = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientSecretCredential $t.BootstrapCredential }
    & $connect
    $first = Invoke-KodoOnboarding -DisplayName 'KODO for Cloud backup' -SkipAudit -Confirm:$false
    $appId = $first.ClientId
    $secret = $first.ClientSecret
    $cases = @(
        @{ Name = 'Re-run: Invoke-KodoOnboarding -SkipAudit'; Script = { $r = Invoke-KodoOnboarding -DisplayName 'KODO for Cloud backup' -SkipAudit -Confirm:$false; if ($r.Status -ne 'Succeeded') { throw "re-run: $($r.Status)" } } }
        @{ Name = 'Re-run with its audit: Invoke-KodoOnboarding'; Script = { $r = Invoke-KodoOnboarding -DisplayName 'KODO for Cloud backup' -Confirm:$false; if (-not $r.AuditPassed) { throw 'audit failed' } } }
        @{ Name = 'Re-run, appId known: Invoke-KodoOnboarding -AppId -SkipAudit'; Script = { $r = Invoke-KodoOnboarding -DisplayName 'KODO for Cloud backup' -AppId $appId -SkipAudit -Confirm:$false; if ($r.Status -ne 'Succeeded') { throw "re-run: $($r.Status)" } } }
        @{ Name = 'Re-run with its audit, appId known: Invoke-KodoOnboarding -AppId'; Script = { $r = Invoke-KodoOnboarding -DisplayName 'KODO for Cloud backup' -AppId $appId -Confirm:$false; if (-not $r.AuditPassed) { throw 'audit failed' } } }
        @{ Name = 'Audit only: Invoke-KodoOnboarding -AuditOnly'; Script = { $r = Invoke-KodoOnboarding -AuditOnly -Confirm:$false; if (-not $r.AuditPassed) { throw 'audit failed' } } }
        @{ Name = 'Audit only, appId known: Invoke-KodoOnboarding -AuditOnly -AppId'; Script = { $r = Invoke-KodoOnboarding -AuditOnly -AppId $appId -Confirm:$false; if (-not $r.AuditPassed) { throw 'audit failed' } } }
        @{ Name = 'Audit: Test-KodoApp'; Script = { $r = Test-KodoApp -AppId $appId -Summary; if (-not $r.Passed) { throw 'audit failed' } } }
        @{ Name = 'Audit with its live sign-in as the app: Test-KodoApp -ClientSecret'; Script = { $r = Test-KodoApp -AppId $appId -ClientSecret $secret -Summary; if (-not $r.Passed) { throw 'audit failed' } } }
    )
    $rows = foreach ($case in $cases) {
        & $connect; $null = & $case.Script   # warm-up
        $times = @(); $trips = $null
        for ($i = 0; $i -lt $Runs; $i++) {
            $null = Disconnect-Kodo
            Clear-Log
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            & $connect
            $null = & $case.Script
            $sw.Stop()
            $times += $sw.Elapsed.TotalMilliseconds
            $trips = Get-Trips
            if ($trips.Writes -ne 0) { throw "$($case.Name) wrote $($trips.Writes) time(s) on a correct tenant" }
        }
        New-CaseRow $case.Name $times $trips
    }
    if ($Processes -gt 0) {
        # A new process per run, as a scheduled job starts: the emulator's address and CA through
        # KODO_EMULATOR, the tenant's throwaway secret through the environment (never an argument).
        $emulatorFile = Join-Path ([System.IO.Path]::GetTempPath()) "kodo-steady-state-$PID.json"
        @{ url = $emu.Url; caCertificate = $emu.CaCertificate } | ConvertTo-Json | Set-Content -LiteralPath $emulatorFile
        # Prints its times (ms): Import-Module, the first Connect-Kodo, the first re-run, and with
        # KODO_BENCH_SECOND a second re-run in the same process (0 without).
        $child = @'
$ErrorActionPreference = 'Stop'
$sw = [System.Diagnostics.Stopwatch]::StartNew()
Import-Module $env:KODO_BENCH_MANIFEST
$import = $sw.Elapsed.TotalMilliseconds
$credential = New-Object System.Management.Automation.PSCredential $env:KODO_BENCH_CLIENT, (ConvertTo-SecureString $env:KODO_BENCH_SECRET -AsPlainText -Force)
$rerun = {
    if ($env:KODO_BENCH_APPID) { $r = Invoke-KodoOnboarding -AppId $env:KODO_BENCH_APPID -SkipAudit -Confirm:$false } else { $r = Invoke-KodoOnboarding -SkipAudit -Confirm:$false }
    if ($r.Status -ne 'Succeeded') { throw "re-run: $($r.Status)" }
}
$sw.Restart()
$null = Connect-Kodo -Environment Emulator -TenantId $env:KODO_BENCH_TENANT -ClientSecretCredential $credential
$connect = $sw.Elapsed.TotalMilliseconds
& $rerun
$first = $sw.Elapsed.TotalMilliseconds - $connect
$second = 0
if ($env:KODO_BENCH_SECOND) { $sw.Restart(); & $rerun; $second = $sw.Elapsed.TotalMilliseconds }
(@($import, $connect, $first, $second) | ForEach-Object { [string][math]::Round($_) }) -join ' '
'@
        $saved = @{}
        $environment = @{ KODO_EMULATOR = $emulatorFile; KODO_BENCH_MANIFEST = (Join-Path $root 'powershell/Kodo/Kodo.psd1'); KODO_BENCH_TENANT = $t.TenantId
            KODO_BENCH_CLIENT = $t.BootstrapCredential.UserName; KODO_BENCH_SECRET = $t.BootstrapCredential.GetNetworkCredential().Password }
        try {
            foreach ($k in $environment.Keys) { $saved[$k] = [Environment]::GetEnvironmentVariable($k); [Environment]::SetEnvironmentVariable($k, $environment[$k]) }
            $pwsh = if ($Pwsh) { $Pwsh } else { (Get-Command pwsh -CommandType Application | Select-Object -First 1).Source }
            # One new process: its times, as numbers.
            function Invoke-Child([string]$Name) {
                $out = & $pwsh -NoProfile -NonInteractive -Command $child
                if ($LASTEXITCODE -ne 0) { throw "${Name}: the process failed: $out" }
                [double[]](([string]@($out)[-1]) -split ' ')
            }
            foreach ($case in @(@{ Name = 'Re-run in a new process: Connect-Kodo, Invoke-KodoOnboarding -SkipAudit'; AppId = '' }, @{ Name = 'Re-run in a new process, appId known: -AppId -SkipAudit'; AppId = $appId })) {
                [Environment]::SetEnvironmentVariable('KODO_BENCH_APPID', $case.AppId)
                $times = @(); $trips = $null
                for ($i = 0; $i -lt $Processes; $i++) {
                    Clear-Log
                    $step = Invoke-Child $case.Name
                    $times += $step[1] + $step[2]
                    $trips = Get-Trips
                    if ($trips.Writes -ne 0) { throw "$($case.Name) wrote $($trips.Writes) time(s) on a correct tenant" }
                }
                $rows = @($rows) + (New-CaseRow $case.Name $times $trips)
            }
            # Step by step: what a new process pays on first use, against a second re-run in the
            # same process (its round trips are not counted: the log holds both re-runs).
            [Environment]::SetEnvironmentVariable('KODO_BENCH_APPID', '')
            [Environment]::SetEnvironmentVariable('KODO_BENCH_SECOND', '1')
            $steps = @(for ($i = 0; $i -lt $Processes; $i++) {
                Clear-Log
                , (Invoke-Child 'Step by step')
                $writes = (Get-Trips).Writes
                if ($writes -ne 0) { throw "Step by step: the re-runs wrote $writes time(s) on a correct tenant" }
            })
            $stepRows = for ($k = 0; $k -lt 4; $k++) {
                New-CaseRow @('Import-Module Kodo', 'Connect-Kodo, first', 'Re-run (-SkipAudit), first', 'Re-run (-SkipAudit), second in the same process')[$k] @($steps | ForEach-Object { $_[$k] }) $null
            }
        } finally {
            foreach ($k in @($saved.Keys) + 'KODO_BENCH_APPID' + 'KODO_BENCH_SECOND') { [Environment]::SetEnvironmentVariable($k, $saved[$k]) }
            Remove-Item -LiteralPath $emulatorFile -ErrorAction SilentlyContinue
        }
    }
} finally {
    Stop-KodoEmulator
}
$lines = @(
    '# Steady state'
    ''
    ('{0}, {1}, native {2}, PowerShell {3}; emulator latency {4} ms per request; median of {5} runs per case on one correct tenant, each from Connect-Kodo (its token counted), after one warm-up{6}. Command: `pwsh ./benches/steady-state.ps1 -Runs {5} -LatencyMs {4}{7}`.' -f (Get-Date -Format 'yyyy-MM-dd'), $version.Target, $version.BuildProfile, $PSVersionTable.PSVersion, $LatencyMs, $Runs,
        $(if ($Processes) { "; the 'new process' rows: median of $Processes processes, each timed from Connect-Kodo (after Import-Module) to the re-run's result" } else { '' }), $(if ($Processes) { " -Processes $Processes" + $(if ($Pwsh) { " -Pwsh $Pwsh" } else { '' }) } else { '' }))
    ''
    '| Case | Median (ms) | Min (ms) | Max (ms) | Round trips | token | Graph | Exchange | Graph writes |'
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
)
foreach ($r in $rows) { $lines += '| {0} | {1} | {2} | {3} | {4} | {5} | {6} | {7} | {8} |' -f $r.Case, $r.Median, $r.Min, $r.Max, $r.Trips.Total, $r.Trips.Token, $r.Trips.Graph, $r.Trips.Exchange, $r.Trips.Writes }
if ($Processes -gt 0) {
    $lines += @('', "A new process step by step ($Processes processes, the re-run without -AppId; ms):", '', '| Step | Median | Min | Max |', '| --- | ---: | ---: | ---: |')
    foreach ($r in $stepRows) { $lines += '| {0} | {1} | {2} | {3} |' -f $r.Case, $r.Median, $r.Min, $r.Max }
}
$lines | Set-Content -LiteralPath $OutFile -Encoding utf8
$lines | Write-Output
