<#
.SYNOPSIS
Measures the Kodo module's import time and its time to first result, each in a fresh pwsh.
.DESCRIPTION
Starts -Runs fresh pwsh processes (no profile). In each, times Import-Module Kodo, then the
first Get-KodoVersion (which loads the interop assembly and the native library). Prints the
median, minimum and maximum of each, in milliseconds.
.EXAMPLE
pwsh ./benches/import-time.ps1 -Runs 15
#>
[CmdletBinding()]
param([int]$Runs = 11)
$ErrorActionPreference = 'Stop'
$module = Join-Path $PSScriptRoot '../powershell/Kodo/Kodo.psd1' | Resolve-Path
$pwsh = (Get-Command pwsh -CommandType Application | Select-Object -First 1).Source
$script = @"
`$i = Measure-Command { Import-Module '$module' }
`$f = Measure-Command { `$null = Get-KodoVersion }
'{0:F1} {1:F1}' -f `$i.TotalMilliseconds, `$f.TotalMilliseconds
"@
$import = @(); $first = @()
for ($n = 0; $n -lt $Runs; $n++) {
    $out = & $pwsh -NoProfile -NonInteractive -Command $script
    $parts = "$out".Trim() -split ' '
    $import += [double]$parts[0]; $first += [double]$parts[1]
}
function Get-Median([double[]]$v) { $s = $v | Sort-Object; $m = [int][math]::Floor($s.Count / 2); if ($s.Count % 2) { $s[$m] } else { ($s[$m - 1] + $s[$m]) / 2 } }
[pscustomobject]@{ Measure = 'Import-Module Kodo (ms)'; Runs = $Runs; Median = Get-Median $import; Min = ($import | Measure-Object -Minimum).Minimum; Max = ($import | Measure-Object -Maximum).Maximum }
[pscustomobject]@{ Measure = 'first Get-KodoVersion (ms)'; Runs = $Runs; Median = Get-Median $first; Min = ($first | Measure-Object -Minimum).Minimum; Max = ($first | Measure-Object -Maximum).Maximum }
