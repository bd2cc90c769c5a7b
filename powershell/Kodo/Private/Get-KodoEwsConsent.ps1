function Get-KodoEwsConsent {
    <#
    .SYNOPSIS
    The EWS consent of a request: -EnableEws, and -AllowEwsRestriction (also given by an explicit -Confirm, whose prompt then asks).
    #>
    [CmdletBinding()]
    param(
        [switch]$EnableEws,
        [switch]$AllowEwsRestriction,
        # The calling command's $PSBoundParameters.
        $BoundParameters
    )
    $confirm = $null -ne $BoundParameters -and $BoundParameters.ContainsKey('Confirm') -and [bool]$BoundParameters['Confirm']
    [ordered]@{ enableEws = [bool]$EnableEws; allowRestriction = ([bool]$AllowEwsRestriction -or $confirm) }
}
