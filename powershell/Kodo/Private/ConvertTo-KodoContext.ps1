function ConvertTo-KodoContext {
    <#
    .SYNOPSIS
    Turns the native context JSON into a Kodo.Context object (never holds a token).
    #>
    [CmdletBinding()]
    [OutputType('Kodo.Context')]
    param([Parameter(Mandatory)]$Context)

    $expires = $null
    if ($Context.tokenExpiresOn) { $expires = [datetime]::Parse([string]$Context.tokenExpiresOn, [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::AdjustToUniversal) }
    [pscustomobject]@{
        PSTypeName            = 'Kodo.Context'
        TenantId              = [string]$Context.tenantId
        Environment           = [string]$Context.environment
        IdentityKind          = [string]$Context.identityKind
        ClientId              = [string]$Context.clientId
        Account               = $Context.account
        AppOnly               = [bool]$Context.appOnly
        Roles                 = @($Context.roles)
        Scopes                = @($Context.scopes)
        TokenExpiresOn        = $expires
        CertificateThumbprint = $Context.certificateThumbprint
        ServicePrincipalId    = $Context.servicePrincipalId
        GraphEndpoint         = [string]$Context.graphEndpoint
    }
}
