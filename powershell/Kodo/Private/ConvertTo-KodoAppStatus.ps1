function ConvertTo-KodoAppStatus {
    <#
    .SYNOPSIS
    The Kodo.AppStatus objects from a native app.find result: one per app, with its credentials (Kodo.AppCredentialInfo) and its audit's checks (Kodo.AppCheck).
    #>
    [CmdletBinding()]
    [OutputType('Kodo.AppStatus')]
    param([Parameter(Mandatory)]$Result)

    foreach ($a in @($Result.apps | Where-Object { $_ })) {
        $appId = [string]$a.appId
        $credentials = @(foreach ($c in @($a.credentials | Where-Object { $_ })) {
                [pscustomobject]@{
                    PSTypeName = 'Kodo.AppCredentialInfo'
                    Type       = [string]$c.type
                    Name       = [string]$c.name
                    KeyId      = [string]$c.keyId
                    ExpiresOn  = if ($c.endDateTime) { ([datetimeoffset]::Parse([string]$c.endDateTime, [Globalization.CultureInfo]::InvariantCulture)).UtcDateTime } else { $null }
                    DaysLeft   = if ($null -ne $c.daysLeft) { [int]$c.daysLeft } else { $null }
                }
            })
        $status = [pscustomobject]@{
            PSTypeName         = 'Kodo.AppStatus'
            DisplayName        = [string]$a.displayName
            AppId              = $appId
            # ClientId as on Kodo.App, so the object pipes into the cmdlets that take one.
            ClientId           = $appId
            ObjectId           = [string]$a.objectId
            Status             = [string]$a.status
            KodoManaged        = [bool]$a.kodoManaged
            IdentifiedBy       = [string]$a.identifiedBy
            Credentials        = $credentials
            DaysLeft           = if ($null -ne $a.daysLeft) { [int]$a.daysLeft } else { $null }
            Permissions        = [int]$a.permissions
            MissingPermissions = @($a.missingPermissions | Where-Object { $_ } | ForEach-Object { [string]$_ })
            SharePointReady    = [bool]$a.sharePoint.certificate
            SharePoint         = [string]$a.sharePoint.detail
            EwsStatus          = if ($a.ews) { [string]$a.ews.status } else { $null }
            Ews                = if ($a.ews) { [string]$a.ews.detail } else { $null }
            Checks             = @(foreach ($c in @($a.checks | Where-Object { $_ })) {
                    [pscustomobject]@{ PSTypeName = 'Kodo.AppCheck'; AppId = $appId; Area = [string]$c.area; Check = [string]$c.check; Status = [string]$c.status; Detail = [string]$c.detail }
                })
        }
        # Also a Kodo.App: Test-KodoApp, Grant-KodoPermissions and Remove-KodoApp take it from the pipeline.
        $status.PSObject.TypeNames.Insert(1, 'Kodo.App')
        $status
    }
}
