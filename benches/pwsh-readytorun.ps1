<#
.SYNOPSIS
Makes a ReadyToRun copy of this machine's pwsh (the dotnet global tool), to measure Kodo on a
pwsh whose own code is precompiled as Microsoft's packages ship it.
.DESCRIPTION
The PowerShell global tool (`dotnet tool install --global PowerShell`, what this project's
machines and CI run) ships its assemblies as IL only: every PowerShell code path a process
touches is compiled by the JIT on first use. Microsoft's release packages (MSI, deb, rpm, zip)
are compiled ahead of time ("The official releases are already crossgen'd":
PowerShell/PowerShell#3335; tools cannot ship ReadyToRun code: dotnet/sdk#10801; the global tool
is "significantly slower than the MSI": PowerShell/vscode-powershell#2544). No such package is
on this machine or its feeds, so this script builds the nearest thing: a copy of the installed
tool whose every assembly is compiled with crossgen2 (the compiler `PublishReadyToRun` uses,
brought by a throwaway project's publish, version as the SDK picks it) against this machine's
shared framework.

Prints the path of the copy's `pwsh` (an apphost; it needs DOTNET_ROOT, which this script's
output line sets). Then: `pwsh ./benches/process-import.ps1 -Pwsh <that path>`, or run
local-cost.ps1 under it. The copy is built once into -Destination and reused.
.EXAMPLE
$r2r = pwsh ./benches/pwsh-readytorun.ps1; pwsh ./benches/process-import.ps1 -Runs 7 -Pwsh $r2r
#>
[CmdletBinding()]
param([string]$Destination = (Join-Path ([System.IO.Path]::GetTempPath()) 'kodo-pwsh-readytorun'))
$ErrorActionPreference = 'Stop'

$tool = Join-Path $HOME '.dotnet/tools/.store/powershell'
$installed = @(Get-ChildItem -Path $tool -Directory -ErrorAction SilentlyContinue | Sort-Object Name)
if (-not $installed) { throw "No PowerShell global tool under $tool (dotnet tool install --global PowerShell)." }
$version = $installed[-1].Name
$unix = @(Get-ChildItem -Path $installed[-1].FullName -Recurse -Directory -Filter unix | Select-Object -First 1)
if (-not $unix) { throw "The global tool $version has no 'unix' folder." }
$framework = Split-Path ([object].Assembly.Location)
$copy = Join-Path $Destination $version
$apphost = Join-Path $copy 'pwsh'
$env:DOTNET_ROOT = Split-Path (Split-Path (Split-Path $framework))

if (-not (Test-Path -LiteralPath (Join-Path $copy '.complete'))) {
    # crossgen2, as the SDK picks it for PublishReadyToRun on this runtime.
    $probe = Join-Path $Destination 'probe'
    $null = New-Item -ItemType Directory -Force -Path $probe
    $rid = if ([System.Runtime.InteropServices.RuntimeInformation]::OSArchitecture -eq 'Arm64') { 'linux-arm64' } else { 'linux-x64' }
    Set-Content -LiteralPath (Join-Path $probe 'probe.csproj') -Value @"
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net$([Environment]::Version.Major).0</TargetFramework>
    <RuntimeIdentifier>$rid</RuntimeIdentifier>
    <SelfContained>false</SelfContained>
    <PublishReadyToRun>true</PublishReadyToRun>
  </PropertyGroup>
</Project>
"@
    Set-Content -LiteralPath (Join-Path $probe 'Program.cs') -Value 'System.Console.WriteLine(0);'
    $null = & dotnet publish $probe -c Release -o (Join-Path $probe 'out') 2>&1
    if ($LASTEXITCODE -ne 0) { throw 'dotnet publish with PublishReadyToRun failed: no crossgen2 for this runtime.' }
    $packages = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path $HOME '.nuget/packages' }
    $crossgen = @(Get-ChildItem -Path (Join-Path $packages "microsoft.netcore.app.crossgen2.$rid") -Recurse -File -Filter crossgen2 | Sort-Object FullName)[-1].FullName

    if (Test-Path -LiteralPath $copy) { Remove-Item -LiteralPath $copy -Recurse -Force }
    Copy-Item -LiteralPath $unix[0].FullName -Destination $copy -Recurse
    $arch = if ($rid -eq 'linux-arm64') { 'arm64' } else { 'x64' }
    $compiled = 0
    # Each assembly compiled from the tool's own (IL) file over its copy; the references are the
    # framework and the tool's other assemblies, named one by one (crossgen2 refuses an input
    # that a reference pattern matches too).
    $assemblies = @(Get-ChildItem -LiteralPath $unix[0].FullName -File -Filter '*.dll')
    foreach ($dll in $assemblies) {
        $references = @($assemblies | Where-Object Name -ne $dll.Name | ForEach-Object { '-r'; $_.FullName })
        $log = & $crossgen $dll.FullName -o (Join-Path $copy $dll.Name) -r (Join-Path $framework '*.dll') @references --targetos linux --targetarch $arch -O 2>&1
        if ($LASTEXITCODE -ne 0) { Write-Warning "$($dll.Name) left as IL: $($log | Select-Object -First 1)"; Copy-Item -LiteralPath $dll.FullName -Destination $copy -Force; continue }
        $compiled++
    }
    Write-Verbose "$compiled assemblies compiled ReadyToRun into $copy"
    Set-Content -LiteralPath (Join-Path $copy '.complete') -Value $version
}
$apphost
