<#
.SYNOPSIS
Runs Kodo's Pester tests against the built module and writes a pass/fail summary as JSON.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string]$SummaryPath,
    [string[]]$Path = @($PSScriptRoot)
)
$ErrorActionPreference = 'Stop'
$root = Resolve-Path (Join-Path $PSScriptRoot '../..')

$pester = Get-ChildItem -Path (Join-Path $root '.tools/nuget/pester') -Filter Pester.psd1 -Recurse -ErrorAction SilentlyContinue |
    Sort-Object { [version]$_.Directory.Parent.Name } -Descending | Select-Object -First 1
if ($pester) {
    Import-Module $pester.FullName -Force
} else {
    Import-Module Pester -MinimumVersion 5.5 -ErrorAction Stop
}

$config = New-PesterConfiguration
$config.Run.Path = $Path
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
$result = $null
try {
    $result = Invoke-Pester -Configuration $config
} catch {
    Write-Host "Pester itself failed: $_"
}

$summary = if ($null -eq $result) {
    [ordered]@{ Passed = 0; Failed = 1; Skipped = 0 }
} else {
    [ordered]@{
        Passed  = [int]$result.PassedCount
        Failed  = [int]($result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount)
        Skipped = [int]($result.SkippedCount + $result.NotRunCount)
    }
}
$summary | ConvertTo-Json | Set-Content -LiteralPath $SummaryPath -Encoding utf8
