function ConvertTo-KodoPermissionResult {
    <#
    .SYNOPSIS
    Turns the native permission rows (Grant-KodoPermissions, Invoke-KodoOnboarding) into Kodo.PermissionResult objects.
    #>
    [CmdletBinding()]
    [OutputType('Kodo.PermissionResult')]
    param([Parameter(Mandatory)][AllowNull()]$Rows, [Parameter(Mandatory)][AllowEmptyString()][string]$AppId)

    foreach ($row in $Rows) {
        if (-not $row) { continue }
        [pscustomobject]@{
            PSTypeName    = 'Kodo.PermissionResult'
            Api           = [string]$row.api
            Permission    = [string]$row.permission
            Type          = [string]$row.type
            Status        = [string]$row.status
            Id            = $row.id
            ResourceAppId = [string]$row.resourceAppId
            AppId         = $AppId
            Note          = $(if ($row.PSObject.Properties['retired'] -and $row.retired) { "Retired since $($row.retired.since): $($row.retired.what). $($row.retired.replacement)." } else { $row.note })
        }
    }
}
