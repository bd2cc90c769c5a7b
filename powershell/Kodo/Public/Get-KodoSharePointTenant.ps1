function Get-KodoSharePointTenant {
    <#
    .SYNOPSIS
    Reads the SharePoint Online tenant setting the KODO procedure changes (LegacyAuthProtocolsEnabled), without the SharePoint Online module.

    .DESCRIPTION
    Discovers the tenant's SharePoint and admin hosts (Graph sites/root) and reads
    LegacyAuthProtocolsEnabled through Microsoft Graph's SharePoint settings when the connected
    identity holds SharePointTenantSettings.ReadWrite.All, otherwise through CSOM on the admin
    host (as Get-SPOTenant does; app-only needs a certificate). Works in PowerShell 7 on any OS
    and in runbooks, and does not clash with a Connect-SPOService session.

    .PARAMETER Route
    Auto (default), Graph or Csom.

    .EXAMPLE
    Get-KodoSharePointTenant

    Shows the setting, the route used and the discovered hosts.

    .OUTPUTS
    Kodo.SharePointTenant
    #>
    [CmdletBinding()]
    [OutputType('Kodo.SharePointTenant')]
    param([ValidateSet('Auto', 'Graph', 'Csom')][string]$Route = 'Auto')

    try {
        $r = Invoke-KodoNative -Cmdlet $PSCmdlet -Request @{ kind = 'spo.tenant'; route = $Route }
        ConvertTo-KodoSharePointTenant -Result $r
    } catch {
        $PSCmdlet.ThrowTerminatingError($_)
    }
}
