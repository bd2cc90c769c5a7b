function Test-KodoApp {
    <#
    .SYNOPSIS
    Audits whether KODO's access to the tenant is still complete: permissions, consent, credentials, the SharePoint setting, retired items.

    .DESCRIPTION
    Read-only. For each manifest row: required, configured (declared on the app) and consented
    (an app role assignment, or the tenant-wide delegated grant). For each credential: its
    expiry, a warning inside -WarnDays, a failure when expired or when none is valid. The
    SharePoint LegacyAuthProtocolsEnabled setting. Retired items (Azure AD Graph, the ACS
    appinv.aspx grant) with their dates and what replaced them.

    Returns a Kodo.AppCheck object per finding (Area, Check, Status Pass/Warn/Fail/Info, Detail)
    and a Kodo.AppTestSummary with the overall result, easy to pipe to Where-Object, Export-Csv
    or ConvertTo-Json. By default only the findings that are not Pass or Info are returned with
    the summary; -Detailed returns every check.

    .PARAMETER InputObject
    A Kodo.App (from New-KodoApp).

    .PARAMETER AppId
    The Application (client) ID of the app.

    .PARAMETER Manifest
    The built-in manifest to check against: Seed (default) or Kodo43.

    .PARAMETER ManifestPath
    Your own manifest file.

    .PARAMETER WarnDays
    Credentials that expire within this many days are a warning (default 30).

    .PARAMETER Detailed
    Return every check, not only the findings.

    .EXAMPLE
    Test-KodoApp -AppId $clientId

    Lists what needs attention and the overall result.

    .EXAMPLE
    Test-KodoApp -AppId $clientId -Detailed | Export-Csv ./kodo-audit.csv -NoTypeInformation

    Writes the full audit to a CSV file.

    .OUTPUTS
    Kodo.AppCheck, Kodo.AppTestSummary
    #>
    [CmdletBinding(DefaultParameterSetName = 'AppId')]
    [OutputType('Kodo.AppCheck', 'Kodo.AppTestSummary')]
    param(
        [Parameter(Mandatory, ValueFromPipeline, ParameterSetName = 'InputObject')]
        [PSTypeName('Kodo.App')]
        $InputObject,

        [Parameter(Mandatory, Position = 0, ParameterSetName = 'AppId')]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$AppId,

        [ValidateSet('Seed', 'Kodo43')]
        [string]$Manifest = 'Seed',

        [string]$ManifestPath,

        [ValidateRange(1, 3650)]
        [int]$WarnDays = 30,

        [switch]$Detailed
    )

    process {
        try {
            $id = if ($InputObject) { [string]$InputObject.ClientId } else { $AppId }
            $manifestObject = Get-KodoManifest -Name $Manifest -Path $ManifestPath
            $r = Invoke-KodoNative -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'app.test'; appId = $id; manifest = $manifestObject; warnDays = $WarnDays })
            foreach ($c in @($r.checks)) {
                if ($Detailed -or $c.status -in 'Fail', 'Warn') {
                    [pscustomobject]@{ PSTypeName = 'Kodo.AppCheck'; AppId = $id; Area = [string]$c.area; Check = [string]$c.check; Status = [string]$c.status; Detail = [string]$c.detail }
                }
            }
            [pscustomobject]@{
                PSTypeName = 'Kodo.AppTestSummary'
                AppId      = $id
                Passed     = [bool]$r.summary.passed
                Failures   = [int]$r.summary.fails
                Warnings   = [int]$r.summary.warnings
                Checks     = [int]$r.summary.total
            }
        } catch {
            $PSCmdlet.ThrowTerminatingError($_)
        }
    }
}
