function ConvertTo-KodoAppCheck {
    <#
    .SYNOPSIS
    Turns a native app.test result into its Kodo.AppCheck objects (all with -Detailed, else the findings) and its Kodo.AppTestSummary, as @{ Checks; Summary }.
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param([Parameter(Mandatory)]$Result, [Parameter(Mandatory)][string]$AppId, [switch]$Detailed)

    $checks = @(foreach ($c in $Result.checks) {
        if ($c -and ($Detailed -or $c.status -in 'Fail', 'Warn')) {
            [pscustomobject]@{ PSTypeName = 'Kodo.AppCheck'; AppId = $AppId; Area = [string]$c.area; Check = [string]$c.check; Status = [string]$c.status; Detail = [string]$c.detail }
        }
    })
    $summary = [pscustomobject]@{
        PSTypeName = 'Kodo.AppTestSummary'
        AppId      = $AppId
        Passed     = [bool]$Result.summary.passed
        Failures   = [int]$Result.summary.fails
        Warnings   = [int]$Result.summary.warnings
        Checks     = [int]$Result.summary.total
    }
    @{ Checks = $checks; Summary = $summary }
}
