function Grant-KodoConsent {
    <#
    .SYNOPSIS
    Grants KODO's multi-tenant app its application permissions in customer tenants as the partner's administrator under GDAP: no customer-side step.

    .DESCRIPTION
    For service providers with GDAP (granular delegated admin privileges) relationships. Run it
    connected to the partner (provider) tenant as an administrator: Connect-Kodo -UseDeviceCode
    or the browser sign-in (an app's sign-in - secret, certificate, managed identity, access
    token - cannot act under GDAP and is refused). For each customer tenant it:

    1. checks the partner's GDAP relationship with the customer (as Test-KodoGdapAccess does:
       active, not past its end, holding Privileged Role Administrator and Application
       Administrator or Cloud Application Administrator). Anything else stops with a
       Kodo.GdapAccessDenied error naming what is missing, and nothing is written;
    2. signs in to the customer tenant as the same administrator (the sign-in's refresh token
       redeemed at the customer tenant's authority, as CIPP does; the roles come from the GDAP
       relationship);
    3. creates the app's service principal there if it is absent (POST /servicePrincipals) and
       grants each application permission of the manifest that is missing (app role
       assignments);
    4. puts the app on the customer organization's Exchange Web Services allow list
       (EwsAllowedAppIDs), as Grant-KodoEwsAccess does, when the relationship holds Exchange
       Administrator (or Global Administrator): KODO reads mail through EWS, which since
       2026-10-01 admits only listed apps. Without such a role the Ews part of the result is
       ManualActionRequired (with a warning) naming what the customer's administrator runs.
       -EnableEws and -AllowEwsRestriction mean what they mean for Grant-KodoEwsAccess.

    Each change is a step of -WhatIf/-Confirm. Safe to run again: a re-run changes nothing and
    says so. Prove the result with Test-KodoConsent -EwsMailbox (it signs in to the customer
    tenant as the app and reads a mailbox through EWS).

    Not done here: the app's delegated permissions in the customer tenant. On the GDAP path those
    are Partner Center's application consent's (POST /v1/customers/{id}/applicationconsents),
    which Kodo does not call yet; customers who need them consent through New-KodoConsentLink.

    Returns one Kodo.ConsentGrant per tenant: TenantId, AppId, ServicePrincipalId, Changes (the
    steps carried out), Permissions (one Kodo.PermissionResult per application permission:
    Granted, AlreadyPresent, WouldGrant, Skipped), Ews (a Kodo.EwsAccess: Configured,
    AlreadyAllowed, NotApproved, ManualActionRequired).

    .PARAMETER AppId
    The multi-tenant app's Application (client) ID (New-KodoApp -MultiTenant).

    .PARAMETER TenantId
    The customer tenant id(s) (GUID).

    .PARAMETER EnableEws
    Turn EWS on for a customer organization where it is off (EwsEnabled False), for the apps on
    the list.

    .PARAMETER AllowEwsRestriction
    Where a customer organization never set EwsEnabled, turn EWS on with an allow list: every
    application not on the list loses EWS access. High impact.

    .PARAMETER Manifest
    The permission manifest: Seed (default) or Kodo43.

    .PARAMETER ManifestPath
    A manifest file of your own instead.

    .EXAMPLE
    Connect-Kodo -TenantId partner.onmicrosoft.com -UseDeviceCode
    Grant-KodoConsent -AppId $app.ClientId -TenantId 11111111-2222-3333-4444-555555555555
    Test-KodoConsent -AppId $app.ClientId -TenantId 11111111-2222-3333-4444-555555555555 -CertificatePath ./kodo.pem

    Grants the app its permissions in one customer tenant under GDAP, then proves the grants.

    .EXAMPLE
    Get-Content ./customers.txt | Grant-KodoConsent -AppId $app.ClientId -WhatIf

    What would be created in each customer tenant; nothing is written.

    .OUTPUTS
    Kodo.ConsentGrant
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Kodo.ConsentGrant')]
    param(
        [Parameter(Mandatory)]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$AppId,

        [Parameter(Mandatory, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string[]]$TenantId,

        [switch]$EnableEws,

        [switch]$AllowEwsRestriction,

        [ValidateSet('Seed', 'Kodo43')]
        [string]$Manifest = 'Seed',

        [string]$ManifestPath
    )

    begin {
        try {
            $manifestObject = Get-KodoManifest -Name $Manifest -Path $ManifestPath
        } catch {
            $PSCmdlet.ThrowTerminatingError($_)
        }
    }

    process {
        foreach ($tenant in $TenantId) {
            try {
                $request = [ordered]@{
                    kind = 'consent.gdap'; appId = $AppId; tenantId = $tenant; manifest = $manifestObject
                    ewsConsent = (Get-KodoEwsConsent -EnableEws:$EnableEws -AllowEwsRestriction:$AllowEwsRestriction -BoundParameters $PSBoundParameters)
                }
                $result = (Invoke-KodoPlannedChange -Cmdlet $PSCmdlet -Request $request -NothingToDo "Tenant ${tenant}: nothing to change.").Result
                [pscustomobject]@{
                    PSTypeName            = 'Kodo.ConsentGrant'
                    TenantId              = [string]$result.tenantId
                    AppId                 = [string]$result.appId
                    ServicePrincipalId    = $result.servicePrincipalId
                    Changes               = @($result.changes | Where-Object { $_ } | ForEach-Object { [string]$_.action })
                    Permissions           = @(ConvertTo-KodoPermissionResult -Rows $result.rows -AppId $AppId)
                    Ews                   = (ConvertTo-KodoEwsAccess -Result $result.ews -Cmdlet $PSCmdlet)
                    GdapRoleDefinitionIds = @($result.gdapRoleDefinitionIds | ForEach-Object { [string]$_ })
                }
            } catch {
                $PSCmdlet.WriteError($_)
            }
        }
    }
}
