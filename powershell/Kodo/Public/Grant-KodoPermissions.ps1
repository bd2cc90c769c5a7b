function Grant-KodoPermissions {
    <#
    .SYNOPSIS
    Adds KODO's API permissions to the app and grants admin consent, and reports every permission.

    .DESCRIPTION
    Steps 11-14 of KODO's "Configure Microsoft 365 access". Reads a permission manifest (the seed
    procedure's table by default; -Manifest Kodo43 is KODO 4.3's Application-only list;
    -ManifestPath your own), resolves every row by name against this tenant's own Microsoft Graph,
    Exchange Online, SharePoint and Azure AD Graph service principals, then declares the
    permissions on the app (requiredResourceAccess) and grants admin consent: an app role
    assignment per Application row, and one tenant-wide grant per API holding every Delegated
    row (merged with what is already granted).

    Returns one Kodo.PermissionResult per manifest row: Granted (now), AlreadyPresent, Retired
    (Azure AD Graph, retired 2025-08-31: not granted), NotOffered (the tenant has no such
    permission; allowed only for rows marked optional), Duplicate, WouldGrant (-WhatIf), Skipped
    (declined at -Confirm) or ScopedInExchange (-MailboxScope: granted as an Exchange role scoped
    to an administrative unit). A row the tenant does not offer stops the run before any write,
    so a typo cannot half-onboard a tenant.

    Safe to run again: a re-run grants nothing that is in place and writes nothing. Throttling
    and Entra's replication delay are retried within a time budget. Supports -WhatIf and
    -Confirm.

    .PARAMETER InputObject
    A Kodo.App from New-KodoApp (pipeline).

    .PARAMETER AppId
    The Application (client) ID of the app.

    .PARAMETER Manifest
    A built-in manifest: Seed (the table of KODO's procedure, default) or Kodo43 (KODO 4.3).

    .PARAMETER ManifestPath
    A JSON manifest of your own (schema 1: rows with resourceAppId, permission, type
    Application|Delegated, optional).

    .PARAMETER MailboxScope
    The object id of an administrative unit: KODO reaches only its members' mailboxes. The
    mailbox permissions (Microsoft Graph Mail.*, Calendars.*, Contacts.*, MailboxSettings.*;
    Exchange full_access_as_app) are then granted in Exchange Online as "Application ..." roles
    scoped to the unit (RBAC for Applications: the app's service principal is registered in
    Exchange with New-ServicePrincipal, one New-ManagementRoleAssignment
    -RecipientAdministrativeUnitScope per role), instead of tenant-wide in Microsoft Entra ID;
    tenant-wide grants of those permissions are revoked, because Entra and Exchange grants add
    up. The plan says how many mailboxes KODO will and will not reach; afterwards
    Test-ServicePrincipalAuthorization checks one mailbox inside the unit and one outside. A
    Kodo.MailboxScope object follows the permission rows. Needs the Exchange Administrator role
    (or Organization Management). OneDrive, SharePoint and Teams permissions stay tenant-wide.

    .PARAMETER AcsAppOnlyGrant
    Ask for the seed's step 15 (the appinv.aspx tenant FullControl grant through Azure ACS). It
    is retired: this fails with an error that says since when and what replaced it.

    .EXAMPLE
    New-KodoApp -DisplayName 'KODO for Cloud backup' | Grant-KodoPermissions

    Creates the app and grants everything the seed procedure asks for.

    .EXAMPLE
    Grant-KodoPermissions -AppId $clientId -WhatIf

    Shows each declaration and consent it would make, and makes none.

    .EXAMPLE
    Grant-KodoPermissions -AppId $clientId -Manifest Kodo43 | Where-Object Status -ne 'AlreadyPresent'

    Grants KODO 4.3's list and shows only what changed or needs attention.

    .EXAMPLE
    Grant-KodoPermissions -AppId $clientId -MailboxScope 4d819ce9-9257-44d7-af20-68a49e6697f4

    Limits KODO's mail, calendar and contact access to the members of one administrative unit.

    .OUTPUTS
    Kodo.PermissionResult, Kodo.MailboxScope
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'AppId')]
    [OutputType('Kodo.PermissionResult', 'Kodo.MailboxScope')]
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

        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$MailboxScope,

        [switch]$AcsAppOnlyGrant
    )

    process {
        try {
            if ($AcsAppOnlyGrant) {
                throw (New-KodoErrorRecord -ErrorId 'Kodo.Retired' -Category NotEnabled -TargetObject 'appinv.aspx' `
                    -Message ('The appinv.aspx grant (Azure ACS app-only, <AppPermissionRequest Scope="http://sharepoint/content/tenant" Right="FullControl" />) is retired: SharePoint Add-ins and ACS stopped working for every tenant on 2026-04-02. ' +
                        'Its replacement is the SharePoint Sites.FullControl.All application permission (granted by this command) and a certificate credential on the app (New-KodoApp -NewCertificate). Test it with Test-KodoSharePointAccess.'))
            }
            $id = if ($InputObject) { [string]$InputObject.ClientId } else { $AppId }
            $manifestObject = Get-KodoManifest -Name $Manifest -Path $ManifestPath
            $request = [ordered]@{ kind = 'permissions.grant'; appId = $id; manifest = $manifestObject }
            # Piped from a New-KodoApp that created the app: wait out Entra's replication in full.
            if ($InputObject -and $InputObject.PSObject.Properties['Changes'] -and @($InputObject.Changes).Count -gt 0) { $request['justCreated'] = $true }
            if ($MailboxScope) { $request['mailboxScope'] = $MailboxScope }
            $result = (Invoke-KodoPlannedChange -Cmdlet $PSCmdlet -Request $request -NothingToDo 'Every permission is already in place: nothing to change.').Result
            ConvertTo-KodoPermissionResult -Rows $result.rows -AppId $id
            if ($result.PSObject.Properties['mailboxScope']) { ConvertTo-KodoMailboxScope -Result $result.mailboxScope -AppId $id }
        } catch {
            $PSCmdlet.ThrowTerminatingError($_)
        }
    }
}
