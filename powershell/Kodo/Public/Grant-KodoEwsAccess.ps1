function Grant-KodoEwsAccess {
    <#
    .SYNOPSIS
    Puts the KODO app on the organization's Exchange Web Services allow list, so that its mail permission (full_access_as_app) works.

    .DESCRIPTION
    KODO for Cloud reads mail through Exchange Web Services (EWS) with the application permission
    full_access_as_app. Since 2026-10-01 Exchange Online admits to EWS only the applications on
    the organization's allow list (Set-OrganizationConfig -EwsAllowedAppIDs), switches
    organizations that never set EwsEnabled off, and stops EWS for good on 2027-04-01.

    Grant-KodoEwsAccess reads the organization's EWS settings through Exchange Online's admin API
    (the transport of Exchange Online PowerShell; no module needed) and:
    - EwsEnabled True: adds the app to the allow list. The whole list is read, extended and written
      back: no entry is removed. Then it is read again to check.
    - EwsEnabled never set: turning EWS on with an allow list admits only the apps listed, so every
      other application that uses EWS today would lose it. Kodo does that only with
      -AllowEwsRestriction (or when you confirm it at -Confirm); otherwise the result is
      ManualActionRequired, with the exact command.
    - EwsEnabled False: EWS is off for the organization. Kodo turns it on (for the listed apps
      only) only with -EnableEws; otherwise ManualActionRequired.
    Exchange applies a change within 24 hours: EffectiveBy says when. Test-KodoApp tells
    "configured, not yet effective" from "denied".

    The signed-in identity needs an Exchange Online role that may change organization settings:
    the Microsoft Entra role Exchange Administrator (or Global Administrator, or the Organization
    Management role group); an app or managed identity also needs the Office 365 Exchange Online
    application permission Exchange.ManageAsApp. Without it the error names the role, and nothing
    is written.

    .PARAMETER InputObject
    A Kodo.App (from New-KodoApp).

    .PARAMETER AppId
    The Application (client) ID of the KODO app.

    .PARAMETER EnableEws
    Turn EWS on for the organization where it is off (EwsEnabled False), for the apps on the list.

    .PARAMETER AllowEwsRestriction
    Where EwsEnabled was never set, turn EWS on with an allow list: every application not on the
    list loses EWS access. High impact.

    .EXAMPLE
    Grant-KodoEwsAccess -AppId $clientId

    Adds the app to an allow list in force, or says what to run when the organization needs more.

    .EXAMPLE
    Grant-KodoEwsAccess -AppId $clientId -AllowEwsRestriction -WhatIf

    Shows the allow list before and after, and changes nothing.

    .OUTPUTS
    Kodo.EwsAccess
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'AppId')]
    [OutputType('Kodo.EwsAccess')]
    param(
        [Parameter(Mandatory, ValueFromPipeline, ParameterSetName = 'InputObject')]
        [PSTypeName('Kodo.App')]
        $InputObject,

        [Parameter(Mandatory, Position = 0, ParameterSetName = 'AppId')]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$AppId,

        [switch]$EnableEws,

        [switch]$AllowEwsRestriction
    )

    process {
        try {
            $id = if ($InputObject) { [string]$InputObject.ClientId } else { $AppId }
            $request = [ordered]@{ kind = 'ews.grant'; appId = $id; consent = (Get-KodoEwsConsent -EnableEws:$EnableEws -AllowEwsRestriction:$AllowEwsRestriction -BoundParameters $PSBoundParameters) }
            $run = Invoke-KodoPlannedChange -Cmdlet $PSCmdlet -Request $request -NothingToDo 'Nothing to change in the EWS allow list.'
            # -WhatIf (or a declined step): the What if line showed the list before and after.
            if ($run.Planned -gt 0 -and $run.Approved.Count -eq 0) { return }
            ConvertTo-KodoEwsAccess -Result $run.Result -Cmdlet $PSCmdlet
        } catch {
            $PSCmdlet.ThrowTerminatingError($_)
        }
    }
}
