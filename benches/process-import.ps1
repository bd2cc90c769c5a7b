<#
.SYNOPSIS
Whole-process cost of importing Kodo: a pwsh that only imports the module against a bare pwsh,
for the source layout and the package New-KodoAutomationPackage makes, and the first native call.
.DESCRIPTION
Alternates -Runs fresh processes of each kind (pwsh -NoProfile -NonInteractive): bare (`exit`),
import only, and import + the first Get-KodoVersion (interop assembly, native library, runtime).
Each is timed from outside (process start to exit). Prints the medians and the differences to the
bare pwsh, in milliseconds.
.EXAMPLE
pwsh ./benches/process-import.ps1 -Runs 11
#>
[CmdletBinding()]
param([ValidateRange(1, 51)][int]$Runs = 11)
$ErrorActionPreference = 'Stop'
$root = Resolve-Path (Join-Path $PSScriptRoot '..')
$source = Join-Path $root 'powershell/Kodo/Kodo.psd1'
$pwsh = (Get-Command pwsh -CommandType Application | Select-Object -First 1).Source
function Get-Median([double[]]$v) { $s = @($v | Sort-Object); $m = [int][math]::Floor($s.Count / 2); if ($s.Count % 2) { $s[$m] } else { ($s[$m - 1] + $s[$m]) / 2 } }

Import-Module $source -Force
$packageDir = Join-Path ([System.IO.Path]::GetTempPath()) ("kodo-bench-" + [guid]::NewGuid())
$null = New-Item -ItemType Directory -Path $packageDir
try {
    $zip = New-KodoAutomationPackage -Path $packageDir -Runtime (& (Get-Module Kodo) { Get-KodoRuntimeIdentifier }) -WarningAction SilentlyContinue
    Expand-Archive -Path $zip.Path -DestinationPath $packageDir
    $layouts = [ordered]@{ 'source (dot-sourced)' = $source; 'packaged for Automation' = (Join-Path $packageDir 'Kodo/Kodo.psd1') }
    function Invoke-Timed([string]$Command) {
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        & $pwsh -NoProfile -NonInteractive -Command $Command | Out-Null
        $sw.Stop()
        if ($LASTEXITCODE -ne 0) { throw "pwsh failed: $Command" }
        $sw.Elapsed.TotalMilliseconds
    }
    $bare = @(); $times = @{}
    foreach ($l in $layouts.Keys) { $times[$l] = @{ Import = @(); First = @() } }
    for ($n = 0; $n -lt $Runs; $n++) {
        $bare += Invoke-Timed 'exit 0'
        foreach ($l in $layouts.Keys) {
            $times[$l].Import += Invoke-Timed "Import-Module '$($layouts[$l])'; exit 0"
            $times[$l].First += Invoke-Timed "Import-Module '$($layouts[$l])'; `$null = Get-KodoVersion; exit 0"
        }
    }
    $b = Get-Median $bare
    [pscustomobject]@{ Layout = 'bare pwsh'; ProcessMs = [math]::Round($b); OverBareMs = 0; FirstNativeCallMs = $null }
    foreach ($l in $layouts.Keys) {
        $i = Get-Median $times[$l].Import; $f = Get-Median $times[$l].First
        [pscustomobject]@{ Layout = $l; ProcessMs = [math]::Round($i); OverBareMs = [math]::Round($i - $b); FirstNativeCallMs = [math]::Round($f - $i) }
    }
} finally {
    Remove-Item -Recurse -Force -LiteralPath $packageDir -ErrorAction SilentlyContinue
}
