function Get-KodoContext {
    <#
    .SYNOPSIS
    Describes the current Kodo connection: tenant, cloud, identity, permissions, token expiry.

    .DESCRIPTION
    Returns a Kodo.Context object: the tenant id, the environment (cloud), the kind of identity
    (DeviceCode, ClientSecret, Certificate, ManagedIdentity, AccessToken), the client id, the
    signed-in account for delegated sign-ins, the Microsoft Graph roles (app-only) or scopes
    (delegated) the token carries, and when it expires. Never the token itself. Returns nothing
    when not connected.

    .EXAMPLE
    Get-KodoContext

    Shows who Kodo is signed in as.

    .EXAMPLE
    (Get-KodoContext).Roles -contains 'Application.ReadWrite.All'

    Checks that the identity may create app registrations.

    .OUTPUTS
    Kodo.Context
    #>
    [CmdletBinding()]
    [OutputType('Kodo.Context')]
    param()

    try {
        $context = Invoke-KodoNative -Cmdlet $PSCmdlet -Request @{ kind = 'context' }
        if ($null -ne $context) { ConvertTo-KodoContext -Context $context }
    } catch {
        $PSCmdlet.ThrowTerminatingError($_)
    }
}
