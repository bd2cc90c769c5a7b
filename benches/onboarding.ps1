<#
.SYNOPSIS
Kodo against the way admins script KODO's onboarding today, side by side, against the tenant
emulator with realistic latency; plus the round-trip floor, import time, time to first result
and memory.

.DESCRIPTION
Starts the emulator with -LatencyMs of latency added to every HTTP request (80 ms by default,
the figure issue 8 asks for), then, each on a fresh tenant, after Connect-Kodo (client secret):

  Kodo               Invoke-KodoOnboarding -SkipAudit: app, secret, permissions, consent and
                     the SharePoint setting in one planned operation
  Kodo + audit       Invoke-KodoOnboarding: the same plus Test-KodoApp
  Kodo step by step  New-KodoApp | Grant-KodoPermissions; Set-KodoSharePointTenant
  Baseline           benches/baseline/Invoke-PlainOnboarding.ps1: plain Invoke-RestMethod,
                     sequential, one request per app role assignment, no batching

The emulator adds the latency once per HTTP request: the sub-requests of a $batch cost nothing
extra there, while real Graph spends some server time on each, so Kodo's real advantage is
somewhat smaller than measured here.

For each: the median wall time of -Runs runs (after one warm-up run each) and the HTTP round
trips the emulator served (its request log; the sub-requests of a $batch are not round trips).
The floor is the fewest round trips Microsoft Graph allows for the same work on a fresh tenant
(worked out below from the manifest). Then import time and time to first result in fresh pwsh
processes (median of -ImportRuns), and the memory of a fresh pwsh that imported Kodo and
onboarded one tenant.

Writes the table to the console and to -OutFile (Markdown).

.EXAMPLE
pwsh ./build.ps1; pwsh ./benches/onboarding.ps1
#>
[CmdletBinding()]
param(
    [ValidateRange(1, 50)][int]$Runs = 5,
    [ValidateRange(0, 2000)][int]$LatencyMs = 80,
    [ValidateRange(1, 51)][int]$ImportRuns = 11,
    [string]$OutFile = (Join-Path $PSScriptRoot 'results/onboarding.md')
)
$ErrorActionPreference = 'Stop'
$root = Resolve-Path (Join-Path $PSScriptRoot '..')
$manifestPath = Join-Path $root 'powershell/Kodo/Kodo.psd1'
$seed = Join-Path $root 'powershell/Kodo/Data/seed.json'
$pwsh = (Get-Command pwsh -CommandType Application | Select-Object -First 1).Source
Import-Module $manifestPath -Force
$version = Get-KodoVersion
if ($version.BuildProfile -ne 'release') { Write-Warning "The native library is a $($version.BuildProfile) build: run pwsh ./build.ps1 (Release) first for meaningful figures." }

function Get-Median([double[]]$v) { $s = @($v | Sort-Object); $m = [int][math]::Floor($s.Count / 2); if ($s.Count % 2) { $s[$m] } else { ($s[$m - 1] + $s[$m]) / 2 } }

$emu = Start-KodoEmulator -Tenants (4 * $Runs + 4) -LatencyMs $LatencyMs
try {
    function Clear-Log { $null = Invoke-RestMethod -Method Delete -Uri "$($emu.Url)/_emulator/requests" -SkipCertificateCheck }
    function Get-RoundTrip {
        $log = @((Invoke-RestMethod -Uri "$($emu.Url)/_emulator/requests" -SkipCertificateCheck) | ForEach-Object { $_ } | Where-Object { -not $_.PSObject.Properties['batch'] -or -not $_.batch })
        [pscustomobject]@{
            Total      = $log.Count
            Token      = @($log | Where-Object { $_.path -like '*/oauth2/*' }).Count
            Graph      = @($log | Where-Object { $_.path -like '/v1.0/*' }).Count
            Exchange   = @($log | Where-Object { $_.path -like '/adminapi/*' }).Count
            Throttled  = @($log | Where-Object status -eq 429).Count
        }
    }
    $connect = { param($t) $null = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientSecretCredential $t.BootstrapCredential }
    $kodo = {
        param($t)
        & $connect $t
        $r = Invoke-KodoOnboarding -Environment Emulator -SkipAudit -Confirm:$false
        if (@($r.Permissions | Where-Object Status -eq 'Granted').Count -ne 28) { throw "Onboarding granted $(@($r.Permissions | Where-Object Status -eq 'Granted').Count) of 28 in tenant $($t.TenantId)" }
        $null = Disconnect-Kodo
    }
    $kodoAudit = {
        param($t)
        & $connect $t
        $r = Invoke-KodoOnboarding -Environment Emulator -Confirm:$false
        if (-not $r.AuditPassed) { throw "The audit failed in tenant $($t.TenantId)" }
        $null = Disconnect-Kodo
    }
    $kodoSteps = {
        param($t)
        & $connect $t
        $app = New-KodoApp -DisplayName 'KODO for Cloud backup' -Confirm:$false
        $null = $app | Grant-KodoPermissions -Confirm:$false
        $null = $app | Grant-KodoEwsAccess -Confirm:$false
        $null = Disconnect-Kodo
    }
    $baseline = {
        param($t)
        $null = & (Join-Path $PSScriptRoot 'baseline/Invoke-PlainOnboarding.ps1') -BaseUrl $emu.Url -TenantId $t.TenantId -Credential $t.BootstrapCredential -ManifestPath $seed
    }
    $cases = @(
        @{ Name = 'Kodo: Invoke-KodoOnboarding -SkipAudit'; Script = $kodo }
        @{ Name = 'Kodo + audit: Invoke-KodoOnboarding'; Script = $kodoAudit }
        @{ Name = 'Kodo step by step: New-KodoApp, Grant-KodoPermissions, Grant-KodoEwsAccess'; Script = $kodoSteps }
        @{ Name = 'Baseline: plain Invoke-RestMethod'; Script = $baseline }
    )
    $rows = @()
    $next = 0
    foreach ($case in $cases) {
        # Warm-up on its own tenant: JIT, the native library, TLS session set-up.
        $null = & $case.Script $emu.Tenants[$next]; $next++
        $times = @(); $trips = $null
        for ($i = 0; $i -lt $Runs; $i++) {
            $t = $emu.Tenants[$next]; $next++
            Clear-Log
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            $null = & $case.Script $t
            $sw.Stop()
            $times += $sw.Elapsed.TotalMilliseconds
            $trips = Get-RoundTrip
        }
        $rows += [pscustomobject]@{ Case = $case.Name; MedianMs = [math]::Round((Get-Median $times), 0); MinMs = [math]::Round(($times | Measure-Object -Minimum).Minimum, 0); MaxMs = [math]::Round(($times | Measure-Object -Maximum).Maximum, 0); RoundTrips = $trips.Total; Token = $trips.Token; Graph = $trips.Graph; Exchange = $trips.Exchange }
    }
} finally {
    Stop-KodoEmulator
}

# The floor: the fewest round trips Graph allows for the same work on a fresh tenant, with
# $batch (at most 20 requests per batch; a request cannot use another's response in the same
# batch, so each dependency costs a round trip):
#   1 token
#   1 $batch: find an existing app (idempotency) + one GET per resource API (permission ids)
#   1 POST /applications (needs the permission ids)
#   1 $batch: POST /servicePrincipals + addPassword (need the app)
#   n $batch: every appRoleAssignment and oauth2PermissionGrant (need the service principal), 20 a batch
#   Exchange: 1 token, Get-OrganizationConfig (the list), Set-OrganizationConfig (the list + the app)
$manifest = Get-Content -Raw $seed | ConvertFrom-Json
$live = @($manifest.permissions | Where-Object { -not $_.retired })
$assignments = @($live | Where-Object type -eq 'Application' | ForEach-Object { "$($_.resourceAppId)/$($_.permission)" } | Sort-Object -Unique).Count
$grants = @($live | Where-Object type -eq 'Delegated' | ForEach-Object resourceAppId | Sort-Object -Unique).Count
$floor = 4 + [math]::Ceiling(($assignments + $grants) / 20) + 3

$kodoRow = $rows[0]; $baseRow = $rows[3]
$ratio = [math]::Round($kodoRow.MedianMs / $baseRow.MedianMs, 2)

# Import, first result and memory, each in fresh pwsh processes, for the module as built here
# (dot-sourced files) and as packaged for Azure Automation (functions merged into Kodo.psm1).
$packageDir = Join-Path ([System.IO.Path]::GetTempPath()) ("kodo-bench-" + [guid]::NewGuid())
$null = New-Item -ItemType Directory -Path $packageDir
$zip = New-KodoAutomationPackage -Path $packageDir -Runtime (& (Get-Module Kodo) { Get-KodoRuntimeIdentifier }) -WarningAction SilentlyContinue
Expand-Archive -Path $zip.Path -DestinationPath $packageDir
# The packaged module has no emulator: the memory run uses the one Start-KodoEmulator finds
# (the Kodo.Emulator module beside the built Kodo).
$emulatorPath = & (Get-Module Kodo) { Find-KodoEmulatorProgram }
$layouts = [ordered]@{ 'as built (dot-sourced)' = $manifestPath; 'as packaged for Automation' = (Join-Path $packageDir 'Kodo/Kodo.psd1') }
$startup = @()
foreach ($layout in $layouts.Keys) {
    $module = $layouts[$layout]
    $importScript = @"
`$i = Measure-Command { Import-Module '$module' }
`$f = Measure-Command { `$null = Get-KodoVersion }
'{0:F1} {1:F1}' -f `$i.TotalMilliseconds, `$f.TotalMilliseconds
"@
    $import = @(); $first = @()
    for ($n = 0; $n -lt $ImportRuns; $n++) {
        $parts = "$(& $pwsh -NoProfile -NonInteractive -Command $importScript)".Trim() -split ' '
        $import += [double]$parts[0]; $first += [double]$parts[1]
    }
    # Memory of a fresh pwsh that imported Kodo and onboarded one tenant (the emulator is its own process).
    $memoryScript = @"
`$ErrorActionPreference = 'Stop'
`$env:KODO_EMULATOR_PATH = '$emulatorPath'
`$p = [System.Diagnostics.Process]::GetCurrentProcess()
`$bare = `$p.WorkingSet64
Import-Module '$module'
`$emu = Start-KodoEmulator
`$t = `$emu.Tenants[0]
`$null = Connect-Kodo -Environment Emulator -TenantId `$t.TenantId -ClientSecretCredential `$t.BootstrapCredential
`$r = Invoke-KodoOnboarding -Environment Emulator -Confirm:`$false
Stop-KodoEmulator
`$p.Refresh()
'{0} {1} {2} {3}' -f `$bare, `$p.WorkingSet64, `$p.PeakWorkingSet64, [int]`$r.AuditPassed
"@
    $m = "$(& $pwsh -NoProfile -NonInteractive -Command $memoryScript)".Trim() -split ' '
    $startup += [pscustomobject]@{
        Layout = $layout
        ImportMs = [math]::Round((Get-Median $import), 0); ImportMin = [math]::Round(($import | Measure-Object -Minimum).Minimum, 0); ImportMax = [math]::Round(($import | Measure-Object -Maximum).Maximum, 0)
        FirstMs = [math]::Round((Get-Median $first), 0)
        BareMB = [math]::Round([double]$m[0] / 1MB, 0); AfterMB = [math]::Round([double]$m[1] / 1MB, 0); PeakMB = [math]::Round([double]$m[2] / 1MB, 0); Audit = [bool][int]$m[3]
    }
}
Remove-Item -Recurse -Force -LiteralPath $packageDir

$lines = @()
$lines += "# Onboarding benchmark"
$lines += ''
$lines += "$(Get-Date -Format 'yyyy-MM-dd'), $($version.Target), native $($version.BuildProfile), PowerShell $($PSVersionTable.PSVersion), $([Environment]::ProcessorCount) cores; emulator latency $LatencyMs ms per request; median of $Runs runs per case, each on a fresh tenant, after one warm-up run. Command: ``pwsh ./benches/onboarding.ps1 -Runs $Runs -LatencyMs $LatencyMs``."
$lines += ''
$lines += '| Case | Median (ms) | Min (ms) | Max (ms) | Round trips | token | Graph | Exchange |'
$lines += '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
foreach ($r in $rows) { $lines += "| $($r.Case) | $($r.MedianMs) | $($r.MinMs) | $($r.MaxMs) | $($r.RoundTrips) | $($r.Token) | $($r.Graph) | $($r.Exchange) |" }
$lines += "| Floor (Graph with `$batch, Exchange's admin API) | | | | $floor | 2 | $($floor - 4) | 2 |"
$lines += ''
$lines += "- Kodo / baseline wall time: **$ratio** (target at most 0.33)."
$lines += "- Kodo's round trips: **$($kodoRow.RoundTrips)**, floor **$floor** ($assignments app role assignments + $grants delegated grants): $($kodoRow.RoundTrips - $floor) above it (target at most 2)."
$lines += ''
$lines += "Startup and memory, each in a fresh pwsh (median of $ImportRuns for the times; memory: working set of a pwsh that imported Kodo and ran one Invoke-KodoOnboarding with its audit against the emulator; targets: import under 300 ms, memory under 150 MB):"
$lines += ''
$lines += '| Module layout | Import-Module (ms) | min | max | first result (ms) | pwsh at start (MB) | after onboarding (MB) | peak (MB) | audit passed |'
$lines += '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |'
foreach ($u in $startup) { $lines += "| $($u.Layout) | $($u.ImportMs) | $($u.ImportMin) | $($u.ImportMax) | $($u.FirstMs) | $($u.BareMB) | $($u.AfterMB) | $($u.PeakMB) | $($u.Audit) |" }
$text = $lines -join [Environment]::NewLine
$null = New-Item -ItemType Directory -Force -Path (Split-Path $OutFile)
Set-Content -LiteralPath $OutFile -Value $text -Encoding utf8
$text
