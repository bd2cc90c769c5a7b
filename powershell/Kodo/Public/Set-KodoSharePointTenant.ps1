function Set-KodoSharePointTenant {
    <#
    .SYNOPSIS
    Sets LegacyAuthProtocolsEnabled (step 17 of the KODO procedure) without the SharePoint Online module.

    .DESCRIPTION
    The equivalent of Connect-SPOService + Set-SPOTenant -LegacyAuthProtocolsEnabled, from
    PowerShell 7 on any OS or a runbook: through Microsoft Graph's SharePoint settings when the
    identity holds SharePointTenantSettings.ReadWrite.All, otherwise through CSOM on the
    discovered admin host. Reads the value first (nothing is written when it is already right,
    and it says so), writes it, and reads it back. Supports -WhatIf and -Confirm.

    .PARAMETER LegacyAuthProtocolsEnabled
    The value to set ($true, as KODO's procedure asks, or $false).

    .PARAMETER Route
    Auto (default), Graph or Csom.

    .EXAMPLE
    Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $true

    Turns the setting on, as step 17 of KODO's procedure does with Set-SPOTenant.

    .EXAMPLE
    Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $true -Route Csom -WhatIf

    Shows whether it would change anything, over CSOM, and writes nothing.

    .OUTPUTS
    Kodo.SharePointTenant
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Kodo.SharePointTenant')]
    param(
        [Parameter(Mandatory)][bool]$LegacyAuthProtocolsEnabled,
        [ValidateSet('Auto', 'Graph', 'Csom')][string]$Route = 'Auto'
    )

    try {
        # One operation: it reads the setting, asks this command's ShouldProcess (an 'approve'
        # prompt) when it would change, and changes it only when approved.
        $r = Invoke-KodoNative -Cmdlet $PSCmdlet -Request @{ kind = 'spo.tenant'; route = $Route; legacyAuthProtocolsEnabled = $LegacyAuthProtocolsEnabled; approval = @{ ask = $true } }
        if ($r.wouldChange -and -not $r.changed) { return }
        ConvertTo-KodoSharePointTenant -Result $r
    } catch {
        $PSCmdlet.ThrowTerminatingError($_)
    }
}
