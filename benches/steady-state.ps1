<#
.SYNOPSIS
Steady state: what a scheduled re-run and the nightly audit cost on a tenant that is already
onboarded and correct, against the tenant emulator with latency added to every HTTP request.
.DESCRIPTION
Onboards one emulator tenant, then times -Runs of each case, each from a new connection
(Connect-Kodo, so its tokens count as a scheduled job's fresh process pays them): the re-run
(Invoke-KodoOnboarding -SkipAudit), the re-run with its audit, both again with the app's id known
(-AppId: one Graph `$batch`), the audit alone (-AuditOnly), and Test-KodoApp. Round trips are
counted from the emulator's request log (a `$batch` is one; its items are not), per service, and
the Graph writes (a `$batch` item counted) must be 0. Writes the table to -OutFile.
SteadyState.Tests.ps1 holds the same round-trip figures as a test.
.EXAMPLE
pwsh ./benches/steady-state.ps1 -Runs 5 -LatencyMs 80
#>
[CmdletBinding()]
param(
    [ValidateRange(1, 50)][int]$Runs = 5,
    [ValidateRange(0, 2000)][int]$LatencyMs = 80,
    [string]$OutFile = (Join-Path $PSScriptRoot 'results/steady-state.md')
)
$ErrorActionPreference = 'Stop'
$root = Resolve-Path (Join-Path $PSScriptRoot '..')
Import-Module (Join-Path $root 'powershell/Kodo/Kodo.psd1') -Force
$version = Get-KodoVersion
function Get-Median([double[]]$v) { $s = @($v | Sort-Object); $m = [int][math]::Floor($s.Count / 2); if ($s.Count % 2) { $s[$m] } else { ($s[$m - 1] + $s[$m]) / 2 } }

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
    $cases = @(
        @{ Name = 'Re-run: Invoke-KodoOnboarding -SkipAudit'; Script = { $r = Invoke-KodoOnboarding -DisplayName 'KODO for Cloud backup' -SkipAudit -Confirm:$false; if ($r.Status -ne 'Succeeded') { throw "re-run: $($r.Status)" } } }
        @{ Name = 'Re-run with its audit: Invoke-KodoOnboarding'; Script = { $r = Invoke-KodoOnboarding -DisplayName 'KODO for Cloud backup' -Confirm:$false; if (-not $r.AuditPassed) { throw 'audit failed' } } }
        @{ Name = 'Re-run, appId known: Invoke-KodoOnboarding -AppId -SkipAudit'; Script = { $r = Invoke-KodoOnboarding -DisplayName 'KODO for Cloud backup' -AppId $appId -SkipAudit -Confirm:$false; if ($r.Status -ne 'Succeeded') { throw "re-run: $($r.Status)" } } }
        @{ Name = 'Re-run with its audit, appId known: Invoke-KodoOnboarding -AppId'; Script = { $r = Invoke-KodoOnboarding -DisplayName 'KODO for Cloud backup' -AppId $appId -Confirm:$false; if (-not $r.AuditPassed) { throw 'audit failed' } } }
        @{ Name = 'Audit only: Invoke-KodoOnboarding -AuditOnly'; Script = { $r = Invoke-KodoOnboarding -AuditOnly -Confirm:$false; if (-not $r.AuditPassed) { throw 'audit failed' } } }
        @{ Name = 'Audit only, appId known: Invoke-KodoOnboarding -AuditOnly -AppId'; Script = { $r = Invoke-KodoOnboarding -AuditOnly -AppId $appId -Confirm:$false; if (-not $r.AuditPassed) { throw 'audit failed' } } }
        @{ Name = 'Audit: Test-KodoApp'; Script = { $r = Test-KodoApp -AppId $appId -Summary; if (-not $r.Passed) { throw 'audit failed' } } }
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
        [pscustomobject]@{ Case = $case.Name; Median = [math]::Round((Get-Median $times)); Min = [math]::Round(($times | Measure-Object -Minimum).Minimum); Max = [math]::Round(($times | Measure-Object -Maximum).Maximum); Trips = $trips }
    }
} finally {
    Stop-KodoEmulator
}
$lines = @(
    '# Steady state'
    ''
    ('{0}, {1}, native {2}, PowerShell {3}; emulator latency {4} ms per request; median of {5} runs per case on one correct tenant, each from Connect-Kodo (its token counted), after one warm-up. Command: `pwsh ./benches/steady-state.ps1 -Runs {5} -LatencyMs {4}`.' -f (Get-Date -Format 'yyyy-MM-dd'), $version.Target, $version.BuildProfile, $PSVersionTable.PSVersion, $LatencyMs, $Runs)
    ''
    '| Case | Median (ms) | Min (ms) | Max (ms) | Round trips | token | Graph | Exchange | Graph writes |'
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
)
foreach ($r in $rows) { $lines += '| {0} | {1} | {2} | {3} | {4} | {5} | {6} | {7} | {8} |' -f $r.Case, $r.Median, $r.Min, $r.Max, $r.Trips.Total, $r.Trips.Token, $r.Trips.Graph, $r.Trips.Exchange, $r.Trips.Writes }
$lines | Set-Content -LiteralPath $OutFile -Encoding utf8
$lines | Write-Output
