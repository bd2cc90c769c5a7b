function Test-KodoSharePointAccess {
    <#
    .SYNOPSIS
    Proves that the connected app has SharePoint app-only access: reads the root site's web.

    .DESCRIPTION
    The modern replacement of the retired appinv.aspx grant is the SharePoint
    Sites.FullControl.All application permission plus a certificate credential, because
    SharePoint Online refuses app-only tokens obtained with a client secret. This signs in to
    SharePoint as the connected app and reads /_api/web of the tenant's root site (discovered
    through Microsoft Graph). A secret-based connection fails with an error that explains the
    certificate rule.

    .EXAMPLE
    Connect-Kodo -TenantId $tenantId -ClientId $app.ClientId -CertificatePath ./kodo.pfx -CertificatePassword $pw
    Test-KodoSharePointAccess

    Proves the KODO app can read SharePoint app-only.

    .OUTPUTS
    Kodo.SharePointAccess
    #>
    [CmdletBinding()]
    [OutputType('Kodo.SharePointAccess')]
    param()

    try {
        $r = Invoke-KodoNative -Cmdlet $PSCmdlet -Request @{ kind = 'spo.verify' }
        [pscustomobject]@{
            PSTypeName     = 'Kodo.SharePointAccess'
            SharePointHost = [string]$r.sharePointHost
            WebUrl         = [string]$r.webUrl
            Title          = [string]$r.title
            WebTemplate    = [string]$r.webTemplate
            AppOnly        = [bool]$r.appOnly
            AuthMethod     = [string]$r.authMethod
            Roles          = @($r.roles)
        }
    } catch {
        $PSCmdlet.ThrowTerminatingError($_)
    }
}
