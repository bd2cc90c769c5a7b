function Test-KodoGdapAccess {
    <#
    .SYNOPSIS
    Checks the signed-in partner's GDAP relationship with a customer tenant: active, not expired, and holding the roles consenting to KODO's app needs.

    .DESCRIPTION
    For service providers with GDAP (granular delegated admin privileges) relationships: reads the
    partner tenant's delegated admin relationships through Microsoft Graph
    (tenantRelationships/delegatedAdminRelationships; the connection needs
    DelegatedAdminRelationship.Read.All) and, for each customer tenant, reports whether one
    relationship is active and not past its end date, and whether the active ones hold Privileged
    Role Administrator (granting Microsoft Graph application permissions needs it) and
    Application Administrator or Cloud Application Administrator. Read only.

    CanSetEwsAllowList says whether the active relationships also hold Exchange Administrator
    (or Global Administrator): not needed for consent, but without it Grant-KodoConsent cannot
    put the app on the customer's Exchange Web Services allow list, and the customer's
    administrator must (Grant-KodoEwsAccess).

    Returns one Kodo.GdapAccess per tenant: Ready, Reason (Ready, NoRelationship, Expired,
    NotActive, MissingRoles), MissingRoles, CanSetEwsAllowList, Relationships, Detail.

    Grant-KodoConsent runs this check first, then grants the app its application permissions in
    the customer tenant under GDAP. Partner Center's application consent API (the delegated
    permissions, as CIPP applies it) is not called by Kodo yet: which roles that API checks is
    UNCONFIRMED.

    .PARAMETER TenantId
    The customer tenant id(s) (GUID).

    .EXAMPLE
    Test-KodoGdapAccess -TenantId 11111111-2222-3333-4444-555555555555

    Whether the partner's GDAP relationship with that customer is active and holds the roles.

    .EXAMPLE
    Get-Content ./customers.txt | Test-KodoGdapAccess | Where-Object { -not $_.Ready } | Format-Table TenantId, Reason, Detail

    The customers whose relationships need attention.

    .OUTPUTS
    Kodo.GdapAccess
    #>
    [CmdletBinding()]
    [OutputType('Kodo.GdapAccess')]
    param(
        [Parameter(Mandatory, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string[]]$TenantId
    )

    process {
        foreach ($tenant in $TenantId) {
            try {
                $r = Invoke-KodoNative -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'gdap.test'; tenantId = $tenant })
                [pscustomobject]@{
                    PSTypeName         = 'Kodo.GdapAccess'
                    TenantId           = [string]$r.tenantId
                    Ready              = [bool]$r.ready
                    Reason             = [string]$r.reason
                    MissingRoles       = @($r.missingRoles | ForEach-Object { [string]$_ })
                    CanSetEwsAllowList = [bool]$r.canSetEwsAllowList
                    RoleDefinitionIds  = @($r.roleDefinitionIds | ForEach-Object { [string]$_ })
                    Relationships      = @($r.relationships)
                    Detail             = [string]$r.detail
                }
            } catch {
                $PSCmdlet.WriteError($_)
            }
        }
    }
}
