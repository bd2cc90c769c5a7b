function ConvertTo-KodoAppCheck {
    <#
    .SYNOPSIS
    Turns a native app.test result into Kodo.AppCheck objects (all with -Detailed, else the findings) and a Kodo.AppTestSummary.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)]$Result, [Parameter(Mandatory)][string]$AppId, [switch]$Detailed)

    foreach ($c in @($Result.checks | Where-Object { $_ })) {
        if ($Detailed -or $c.status -in 'Fail', 'Warn') {
            [pscustomobject]@{ PSTypeName = 'Kodo.AppCheck'; AppId = $AppId; Area = [string]$c.area; Check = [string]$c.check; Status = [string]$c.status; Detail = [string]$c.detail }
        }
    }
    [pscustomobject]@{
        PSTypeName = 'Kodo.AppTestSummary'
        AppId      = $AppId
        Passed     = [bool]$Result.summary.passed
        Failures   = [int]$Result.summary.fails
        Warnings   = [int]$Result.summary.warnings
        Checks     = [int]$Result.summary.total
    }
}
