function Get-KodoEwsConsent {
    <#
    .SYNOPSIS
    The EWS consent of a request: -EnableEws, and -AllowEwsRestriction (also given by an explicit -Confirm, whose prompt then asks).
    #>
    [CmdletBinding()]
    param(
        [switch]$EnableEws,
        [switch]$AllowEwsRestriction,
        [System.Collections.IDictionary]$BoundParameters
    )
    $confirm = $BoundParameters -and $BoundParameters.Contains('Confirm') -and [bool]$BoundParameters['Confirm']
    [ordered]@{ enableEws = [bool]$EnableEws; allowRestriction = ([bool]$AllowEwsRestriction -or $confirm) }
}
