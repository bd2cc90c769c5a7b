<#
.SYNOPSIS
An MSP run: Invoke-KodoOnboarding over many emulator tenants in one go, with throttling on.

.DESCRIPTION
Starts the emulator with -Tenants tenants, -ThrottleRate (the share of Graph requests, $batch
items included, answered 429 with Retry-After: 1) and -LatencyMs, then pipes one row per
tenant (TenantId + that tenant's credential) into Invoke-KodoOnboarding in this process.
Reports the wall time, throughput, failures (target zero), the 429s the emulator served, the
round trips, this pwsh's working set before and after and at its peak, and the native library's
own heap (counted by its allocator: debug.stats) before, at its peak and after, with the peak's
share per tenant in flight.

Writes the table to the console and adds it to -OutFile (Markdown; a record of runs, never overwritten).

.EXAMPLE
pwsh ./build.ps1; pwsh ./benches/bulk.ps1 -Tenants 200 -ThrottleRate 0.1
#>
[CmdletBinding()]
param(
    [ValidateRange(1, 2000)][int]$Tenants = 200,
    [ValidateRange(0.0, 0.9)][double]$ThrottleRate = 0.1,
    [ValidateRange(0, 2000)][int]$LatencyMs = 80,
    [ValidateRange(1, 16)][int]$ThrottleLimit = 4,
    [switch]$SkipAudit,
    [string]$OutFile = (Join-Path $PSScriptRoot 'results/bulk.md')
)
$ErrorActionPreference = 'Stop'
$root = Resolve-Path (Join-Path $PSScriptRoot '..')
Import-Module (Join-Path $root 'powershell/Kodo/Kodo.psd1') -Force
$version = Get-KodoVersion
if ($version.BuildProfile -ne 'release') { Write-Warning "The native library is a $($version.BuildProfile) build: run pwsh ./build.ps1 (Release) first for meaningful figures." }
$p = [System.Diagnostics.Process]::GetCurrentProcess()

$emu = Start-KodoEmulator -Tenants $Tenants -ThrottleRate $ThrottleRate -LatencyMs $LatencyMs
try {
    $rows = @($emu.Tenants | ForEach-Object { [pscustomobject]@{ TenantId = $_.TenantId; ClientSecretCredential = $_.BootstrapCredential } })
    [GC]::Collect(); $p.Refresh(); $before = $p.WorkingSet64
    $kodo = Get-Module Kodo
    $heapBefore = & $kodo { Invoke-KodoDebugOperation -Kind Stats -ResetPeak }
    $sw = [System.Diagnostics.Stopwatch]::StartNew()
    $results = @($rows | Invoke-KodoOnboarding -Environment Emulator -ThrottleLimit $ThrottleLimit -SkipAudit:$SkipAudit -Confirm:$false -ErrorAction SilentlyContinue)
    $sw.Stop()
    $p.Refresh(); $after = $p.WorkingSet64; $peak = $p.PeakWorkingSet64
    $heapAfter = & $kodo { Invoke-KodoDebugOperation -Kind Stats }
    $log = @((Invoke-RestMethod -Uri "$($emu.Url)/_emulator/requests" -SkipCertificateCheck) | ForEach-Object { $_ })
} finally {
    Stop-KodoEmulator
}
$failed = @($results | Where-Object Status -ne 'Succeeded')
$auditFailed = @($results | Where-Object { $_.Status -eq 'Succeeded' -and $_.AuditPassed -eq $false })
$durations = @($results | ForEach-Object DurationSeconds | Sort-Object)
$median = $durations[[int][math]::Floor($durations.Count / 2)]
$top = @($log | Where-Object { -not $_.PSObject.Properties['batch'] })
$throttled = @($log | Where-Object status -eq 429).Count
$mb = { param($b) [math]::Round([double]$b / 1MB, 0) }
$heapPeakGrowth = $heapAfter.heapPeakBytes - $heapBefore.heapLiveBytes
$perTenant = [math]::Round([double]$heapPeakGrowth / [math]::Min($ThrottleLimit, $Tenants) / 1MB, 2)

$lines = @(
    '# Bulk onboarding benchmark'
    ''
    "$(Get-Date -Format 'yyyy-MM-dd'), $($version.Target), native $($version.BuildProfile), PowerShell $($PSVersionTable.PSVersion), $([Environment]::ProcessorCount) cores. Command: ``pwsh ./benches/bulk.ps1 -Tenants $Tenants -ThrottleRate $ThrottleRate -LatencyMs $LatencyMs -ThrottleLimit $ThrottleLimit$(if ($SkipAudit) { ' -SkipAudit' })``: one Invoke-KodoOnboarding run over $Tenants emulator tenants ($ThrottleLimit at a time), $(if ($SkipAudit) { 'without' } else { 'with' }) the audit, $LatencyMs ms latency per request, $([math]::Round($ThrottleRate * 100))% of Graph requests (batch items included) throttled with Retry-After: 1."
    ''
    '| Tenants | Wall time (s) | Tenants/min | Median per tenant (s) | Failed | Audit failed | 429s served | HTTP round trips | Working set before / after / peak (MB) |'
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |'
    "| $($results.Count) | $([math]::Round($sw.Elapsed.TotalSeconds, 1)) | $([math]::Round($results.Count / $sw.Elapsed.TotalMinutes, 1)) | $median | $($failed.Count) | $($auditFailed.Count) | $throttled | $($top.Count) | $(& $mb $before) / $(& $mb $after) / $(& $mb $peak) |"
    ''
    "Native library's heap (its allocator's count; thread stacks and the allocator's free lists not included): before $([math]::Round($heapBefore.heapLiveBytes / 1MB, 1)) MB, peak $([math]::Round($heapAfter.heapPeakBytes / 1MB, 1)) MB, after $([math]::Round($heapAfter.heapLiveBytes / 1MB, 1)) MB; the peak's growth over $([math]::Min($ThrottleLimit, $Tenants)) tenants in flight: $perTenant MB per tenant, $([math]::Round(100.0 * $heapAfter.heapPeakBytes / $peak, 1)) % of the process's peak working set."
)
foreach ($f in $failed) { $lines += "- Failed: $($f.TenantId): $($f.Error)" }
$text = $lines -join [Environment]::NewLine
$null = New-Item -ItemType Directory -Force -Path (Split-Path $OutFile)
# -OutFile is a record of runs (results/bulk.md holds every one since 2026-11-28): a run adds
# its section under the title, never replaces the runs before it.
if (Test-Path -LiteralPath $OutFile) {
    Add-Content -LiteralPath $OutFile -Value ([Environment]::NewLine + ($lines[2..($lines.Count - 1)] -join [Environment]::NewLine)) -Encoding utf8
} else {
    Set-Content -LiteralPath $OutFile -Value $text -Encoding utf8
}
$text
