<#
.SYNOPSIS
The bulk run's ledger: its size per tenant, the time of a resume whose tenants are all done, and how long Get-KodoOnboardingStatus takes to read a 1 000-tenant ledger.

.DESCRIPTION
Starts the emulator with -Tenants tenants (no latency, no throttling), onboards them with
-LedgerPath (one process, this one), then:
- the ledger's bytes per tenant (header excluded);
- a second run of the same command: every tenant skipped (no sign-in, no request);
- a ledger of -FleetSize tenants, made of that run's records repeated under new tenant ids
  (3 records per tenant, the shape a run writes), read by Get-KodoOnboardingStatus (every
  tenant's object) and by -Summary: the median of -Runs reads each;
- a run over those -FleetSize tenant ids: every one done, so every one skipped;
- a consent ledger of -FleetSize tenants (a copy of that ledger) tracking -Links new consent
  links in one pipeline (New-KodoConsentLink -LedgerPath: no request, one ledger open and one
  record per customer, as Test-KodoConsent -LedgerPath opens it): the time per link, which
  must not grow with the ledger.

.EXAMPLE
pwsh ./build.ps1 -Configuration Debug -Runtime linux-x64; pwsh ./benches/ledger.ps1 -Tenants 20 -FleetSize 1000
#>
[CmdletBinding()]
param(
    [ValidateRange(1, 500)][int]$Tenants = 20,
    [ValidateRange(10, 100000)][int]$FleetSize = 1000,
    [ValidateRange(1, 50)][int]$Runs = 5,
    [ValidateRange(1, 100000)][int]$Links = 200
)
$ErrorActionPreference = 'Stop'
$root = Resolve-Path (Join-Path $PSScriptRoot '..')
Import-Module (Join-Path $root 'powershell/Kodo/Kodo.psd1') -Force
$version = Get-KodoVersion
$dir = Join-Path ([System.IO.Path]::GetTempPath()) ('kodo-ledger-bench-' + [guid]::NewGuid().ToString('N'))
$null = New-Item -ItemType Directory -Path $dir
function Get-Median([double[]]$Values) { $s = @($Values | Sort-Object); $s[[int][math]::Floor(($s.Count - 1) / 2)] }

$emu = Start-KodoEmulator -Tenants $Tenants
try {
    $rows = @($emu.Tenants | ForEach-Object { [pscustomobject]@{ TenantId = $_.TenantId; ClientSecretCredential = $_.BootstrapCredential } })
    $ledger = Join-Path $dir 'fleet.jsonl'
    $sw = [System.Diagnostics.Stopwatch]::StartNew()
    $first = @($rows | Invoke-KodoOnboarding -Environment Emulator -SkipAudit -Confirm:$false -LedgerPath $ledger)
    $sw.Stop()
    $firstMs = $sw.Elapsed.TotalMilliseconds
    $lines = @(Get-Content -LiteralPath $ledger)
    $bytes = (Get-Item -LiteralPath $ledger).Length - ([System.Text.Encoding]::UTF8.GetByteCount($lines[0]) + 1)
    $perTenant = $bytes / $Tenants

    $resume = @(foreach ($i in 1..$Runs) {
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            $second = @($rows | Invoke-KodoOnboarding -Environment Emulator -SkipAudit -Confirm:$false -LedgerPath $ledger)
            $sw.Stop()
            if (@($second | Where-Object Status -ne 'Skipped').Count) { throw 'a done tenant was not skipped' }
            $sw.Elapsed.TotalMilliseconds
        })

    # A fleet: the real records of one tenant, repeated under new ids.
    $records = @($lines | Select-Object -Skip 1 | Where-Object { $_.Contains($rows[0].TenantId) })
    $fleet = Join-Path $dir 'fleet-big.jsonl'
    $ids = @(1..$FleetSize | ForEach-Object { [guid]::NewGuid().ToString() })
    $text = New-Object System.Text.StringBuilder
    $null = $text.Append($lines[0]).Append("`n")
    foreach ($id in $ids) { foreach ($r in $records) { $null = $text.Append($r.Replace($rows[0].TenantId, $id)).Append("`n") } }
    [System.IO.File]::WriteAllText($fleet, $text.ToString())
    $read = @(foreach ($i in 1..$Runs) {
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            $all = @(Get-KodoOnboardingStatus -LedgerPath $fleet)
            $sw.Stop()
            if ($all.Count -ne $FleetSize) { throw "read $($all.Count) tenants" }
            $sw.Elapsed.TotalMilliseconds
        })
    $summary = @(foreach ($i in 1..$Runs) {
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            $s = Get-KodoOnboardingStatus -LedgerPath $fleet -Summary
            $sw.Stop()
            if ($s.Done -ne $FleetSize) { throw "summary: $($s.Done) done" }
            $sw.Elapsed.TotalMilliseconds
        })
    $credential = $rows[0].ClientSecretCredential
    $sw = [System.Diagnostics.Stopwatch]::StartNew()
    $skipped = @($ids | ForEach-Object { [pscustomobject]@{ TenantId = $_; ClientSecretCredential = $credential } } | Invoke-KodoOnboarding -Environment Emulator -SkipAudit -Confirm:$false -LedgerPath $fleet)
    $sw.Stop()
    if (@($skipped | Where-Object Status -ne 'Skipped').Count) { throw 'a done tenant of the fleet was not skipped' }
    $fleetSkipMs = $sw.Elapsed.TotalMilliseconds

    # Consent links tracked in a ledger of the fleet's size: one open per customer.
    $consents = Join-Path $dir 'consents.jsonl'
    Copy-Item -LiteralPath $fleet -Destination $consents
    $linkIds = @(1..$Links | ForEach-Object { [guid]::NewGuid().ToString() })
    # A link names the connection's cloud (its sign-in host); it makes no request.
    $null = Connect-Kodo -Environment Emulator -TenantId $rows[0].TenantId -ClientSecretCredential $credential
    $sw = [System.Diagnostics.Stopwatch]::StartNew()
    $made = @($linkIds | New-KodoConsentLink -AppId ([guid]::NewGuid()) -RedirectUri 'https://partner.example/kodo/consented' -LedgerPath $consents)
    $sw.Stop()
    if ($made.Count -ne $Links) { throw "made $($made.Count) links" }
    $planned = @(Get-KodoOnboardingStatus -LedgerPath $consents -State Planned)
    if ($planned.Count -ne $Links) { throw "$($planned.Count) links tracked" }
    $linkMs = $sw.Elapsed.TotalMilliseconds / $Links

    [pscustomobject]@{
        NativeBuild                  = $version.BuildProfile
        Tenants                      = $Tenants
        FirstRunMs                   = [math]::Round($firstMs)
        LedgerBytesPerTenant         = [math]::Round($perTenant)
        ResumeAllDoneMedianMs        = [math]::Round((Get-Median $resume))
        FleetSize                    = $FleetSize
        FleetLedgerKB                = [math]::Round((Get-Item -LiteralPath $fleet).Length / 1KB)
        StatusAllTenantsMedianMs     = [math]::Round((Get-Median $read))
        StatusSummaryMedianMs        = [math]::Round((Get-Median $summary))
        FleetRunAllSkippedMs         = [math]::Round($fleetSkipMs)
        Links                        = $Links
        LinkInFleetLedgerMs          = [math]::Round($linkMs, 2)
    }
} finally {
    Stop-KodoEmulator
    Remove-Item -LiteralPath $dir -Recurse -Force -ErrorAction SilentlyContinue
}
