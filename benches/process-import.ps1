<#
.SYNOPSIS
Whole-process cost of importing Kodo: a pwsh that only imports the module against a bare pwsh,
for the source layout and the package New-KodoAutomationPackage makes, and the first native call;
with -Phases, where that time goes.
.DESCRIPTION
Alternates -Runs fresh processes of each kind (pwsh -NoProfile -NonInteractive): bare (`exit`),
import only, and import + the first Get-KodoVersion (interop assembly, native library, runtime,
the first JSON both ways). Each is timed from outside (process start to exit, wall clock), and
each reports its own CPU time (user + system, all threads) just before it exits: on a machine
shared with other work the wall clock measures the load as much as Kodo, the CPU time much less.
Prints the medians and the differences to the bare pwsh, in milliseconds, and whether issue 18's
targets hold (import at most 150 ms over a bare pwsh, first native call at most 50 ms), judged
on the wall clock and on the CPU time.

The same again over a second baseline: a pwsh that has loaded PowerShell's own Management and
Utility modules (what the first `Join-Path`, `Write-Verbose`, `Get-Date` or `ConvertFrom-Json` of
any script loads, and what Kodo's import loads too). The difference between the two baselines is
PowerShell's, paid once per process by whichever command first uses one of those cmdlets; the
figures over the second are Kodo's own.

-Phases adds the phases of an import and a first call, each timed inside -Runs fresh processes
(wall and CPU, median): parsing and defining the functions (the source layout's files, the work
the packaged psm1 does in one file), the format file (most of it is PowerShell building its
format tables, which a process that never formats output would not otherwise do), the interop
assembly, the native library, the first ConvertTo-Json / ConvertFrom-Json, the session, and the
first operation through the library (start, one event). The TLS set-up is not in the first call:
Connect-Kodo builds the HTTPS client, once per process and settings (src transport.rs).
.EXAMPLE
pwsh ./benches/process-import.ps1 -Runs 11
.EXAMPLE
pwsh ./benches/process-import.ps1 -Runs 7 -Phases
.EXAMPLE
pwsh ./benches/process-import.ps1 -Runs 7 -Pwsh (pwsh ./benches/pwsh-readytorun.ps1)

-Pwsh: the pwsh measured (default: the one on PATH), e.g. the ReadyToRun copy that
benches/pwsh-readytorun.ps1 makes of the global tool.
#>
[CmdletBinding()]
param([ValidateRange(1, 51)][int]$Runs = 11, [switch]$Phases, [string]$Pwsh)
$ErrorActionPreference = 'Stop'
$root = Resolve-Path (Join-Path $PSScriptRoot '..')
$source = Join-Path $root 'powershell/Kodo/Kodo.psd1'
if (-not $Pwsh) { $Pwsh = (Get-Command pwsh -CommandType Application | Select-Object -First 1).Source }
# An apphost outside the dotnet folder (the ReadyToRun copy) finds the runtime through DOTNET_ROOT.
if (-not $env:DOTNET_ROOT) { $env:DOTNET_ROOT = Split-Path (Split-Path (Split-Path (Split-Path ([object].Assembly.Location)))) }
function Get-Median([double[]]$v) { $s = @($v | Sort-Object); $m = [int][math]::Floor($s.Count / 2); if ($s.Count % 2) { $s[$m] } else { ($s[$m - 1] + $s[$m]) / 2 } }
# The child's own CPU time (ms), printed last.
$cpuTail = '; [Console]::Out.WriteLine([Diagnostics.Process]::GetCurrentProcess().TotalProcessorTime.TotalMilliseconds); exit 0'

Import-Module $source -Force
$library = Get-KodoVersion
$packageDir = Join-Path ([System.IO.Path]::GetTempPath()) ("kodo-bench-" + [guid]::NewGuid())
$null = New-Item -ItemType Directory -Path $packageDir
try {
    $zip = New-KodoAutomationPackage -Path $packageDir -Runtime (& (Get-Module Kodo) { Get-KodoRuntimeIdentifier }) -WarningAction SilentlyContinue
    Expand-Archive -Path $zip.Path -DestinationPath $packageDir
    $layouts = [ordered]@{ 'source (dot-sourced)' = $source; 'packaged for Automation' = (Join-Path $packageDir 'Kodo/Kodo.psd1') }
    function Invoke-Timed([string]$Command) {
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $out = @(& $Pwsh -NoProfile -NonInteractive -Command ($Command + $cpuTail))
        $sw.Stop()
        if ($LASTEXITCODE -ne 0) { throw "pwsh failed: $Command" }
        [pscustomobject]@{ Wall = $sw.Elapsed.TotalMilliseconds; Cpu = [double]$out[-1] }
    }
    # The two baselines: a bare pwsh, and one that has loaded PowerShell's own modules.
    $baselines = [ordered]@{ 'bare pwsh' = '$null = 0'; "pwsh with PowerShell's Management and Utility modules" = 'Import-Module Microsoft.PowerShell.Management, Microsoft.PowerShell.Utility' }
    $times = @{}
    foreach ($b in $baselines.Keys) {
        $times[$b] = @{ Base = @() }
        foreach ($l in $layouts.Keys) { $times[$b][$l] = @{ Import = @(); First = @() } }
    }
    for ($n = 0; $n -lt $Runs; $n++) {
        foreach ($b in $baselines.Keys) {
            $prefix = $baselines[$b]
            $times[$b].Base += Invoke-Timed $prefix
            foreach ($l in $layouts.Keys) {
                $times[$b][$l].Import += Invoke-Timed "$prefix; Import-Module '$($layouts[$l])'"
                $times[$b][$l].First += Invoke-Timed "$prefix; Import-Module '$($layouts[$l])'; `$null = Get-KodoVersion"
            }
        }
    }
    Write-Host "pwsh: $Pwsh; native library: $($library.BuildProfile) build, $($library.NativeLibraryPath); load average: $(if (Test-Path /proc/loadavg) { (Get-Content /proc/loadavg) } else { 'n/a' })"
    foreach ($b in $baselines.Keys) {
        $bw = Get-Median $times[$b].Base.Wall; $bc = Get-Median $times[$b].Base.Cpu
        [pscustomobject]@{ Baseline = $b; Layout = '(baseline)'; ProcessMs = [math]::Round($bw); OverBaselineMs = 0; FirstNativeCallMs = $null; CpuMs = [math]::Round($bc); CpuOverBaselineMs = 0; FirstNativeCallCpuMs = $null }
        foreach ($l in $layouts.Keys) {
            $iw = Get-Median $times[$b][$l].Import.Wall; $fw = Get-Median $times[$b][$l].First.Wall
            $ic = Get-Median $times[$b][$l].Import.Cpu; $fc = Get-Median $times[$b][$l].First.Cpu
            [pscustomobject]@{
                Baseline = $b; Layout = $l; ProcessMs = [math]::Round($iw); OverBaselineMs = [math]::Round($iw - $bw); FirstNativeCallMs = [math]::Round($fw - $iw)
                CpuMs = [math]::Round($ic); CpuOverBaselineMs = [math]::Round($ic - $bc); FirstNativeCallCpuMs = [math]::Round($fc - $ic)
                # Issue 18: import at most 150 ms over a bare pwsh, the first native call at most 50 ms
                # (judged over each baseline; the bare one is the issue's).
                TargetsMetOnWall = (($iw - $bw) -le 150 -and ($fw - $iw) -le 50)
                TargetsMetOnCpu  = (($ic - $bc) -le 150 -and ($fc - $ic) -le 50)
            }
        }
    }

    if ($Phases) {
        $moduleDir = Split-Path $source
        $probe = Join-Path $packageDir 'profile.ps1'
        # Each phase: wall and CPU (ms) of this process. Runs the module's own pieces, outside the module.
        Set-Content -LiteralPath $probe -Value @'
param([string]$ModuleDir, [string]$Library)
$p = [Diagnostics.Process]::GetCurrentProcess(); $sw = [Diagnostics.Stopwatch]::StartNew()
$marks = New-Object System.Collections.Generic.List[object]
function Mark([string]$Name) { $p.Refresh(); $marks.Add(@($Name, $sw.Elapsed.TotalMilliseconds, $p.TotalProcessorTime.TotalMilliseconds)) }
Mark 'start'
$text = New-Object System.Text.StringBuilder
foreach ($folder in @('Private', 'Public')) { foreach ($file in [System.IO.Directory]::GetFiles([System.IO.Path]::Combine($ModuleDir, $folder), '*.ps1')) { $null = $text.AppendLine([System.IO.File]::ReadAllText($file)) } }
Mark 'read the function files'
$tokens = $null; $errors = $null
$ast = [System.Management.Automation.Language.Parser]::ParseInput($text.ToString(), [ref]$tokens, [ref]$errors)
Mark 'parse the functions'
. $ast.GetScriptBlock()
Mark 'define the functions'
Update-FormatData -AppendPath ([System.IO.Path]::Combine($ModuleDir, 'Kodo.Format.ps1xml'))
Mark 'format file (FormatsToProcess)'
$null = [System.Reflection.Assembly]::LoadFrom([System.IO.Path]::Combine($ModuleDir, 'bin', 'Kodo.Interop.dll'))
Mark 'interop assembly (LoadFrom)'
$found = [Kodo.Interop.KodoModule]::FindLibrary($ModuleDir)
Mark 'find the library (KodoModule)'
$native = [Kodo.Interop.KodoNative]::Load($Library); $null = $native.ProtocolVersion()
Mark 'native library (load, protocol)'
$session = [IntPtr]::Zero; $null = $native.SessionNew('{"v":1,"debugHooks":false}', [ref]$session)
Mark 'session (kodo_session_new)'
$request = [Kodo.Interop.KodoJson]::TryWrite([ordered]@{ v = 1; kind = 'version' })
Mark 'request JSON (KodoJson)'
$op = [IntPtr]::Zero; $null = $native.OpStart($session, $request, [ref]$op)
$json = $null; $null = $native.OpNextEvent($op, 5000, [ref]$json); $null = $native.OpFree($op)
Mark 'first operation (start on the runtime, one event)'
$null = ConvertFrom-Json -InputObject $json
Mark 'first ConvertFrom-Json'
for ($i = 1; $i -lt $marks.Count; $i++) { '{0}|{1}|{2}' -f $marks[$i][0], ($marks[$i][1] - $marks[$i - 1][1]), ($marks[$i][2] - $marks[$i - 1][2]) }
'@
        $phaseTimes = [ordered]@{}
        for ($n = 0; $n -lt $Runs; $n++) {
            foreach ($line in @(& $Pwsh -NoProfile -NonInteractive -File $probe -ModuleDir $moduleDir -Library $library.NativeLibraryPath)) {
                $name, $wall, $cpu = $line -split '\|'
                if (-not $phaseTimes.Contains($name)) { $phaseTimes[$name] = @{ Wall = @(); Cpu = @() } }
                $phaseTimes[$name].Wall += [double]$wall; $phaseTimes[$name].Cpu += [double]$cpu
            }
        }
        foreach ($name in $phaseTimes.Keys) {
            [pscustomobject]@{ Phase = $name; WallMs = [math]::Round((Get-Median $phaseTimes[$name].Wall)); CpuMs = [math]::Round((Get-Median $phaseTimes[$name].Cpu)) }
        }
    }
} finally {
    Remove-Item -Recurse -Force -LiteralPath $packageDir -ErrorAction SilentlyContinue
}
