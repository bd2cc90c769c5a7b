function ConvertTo-KodoEwsAccess {
    <#
    .SYNOPSIS
    Builds a Kodo.EwsAccess object from a native EWS step's answer, and warns when an admin must act.
    #>
    [CmdletBinding()]
    [OutputType('Kodo.EwsAccess')]
    param(
        [Parameter(Mandatory)]$Result,
        [System.Management.Automation.PSCmdlet]$Cmdlet
    )

    $property = { param($Name) $p = $Result.PSObject.Properties[$Name]; if ($p) { $p.Value } else { $null } }
    $effective = & $property 'effectiveBy'
    $ews = [pscustomobject]@{
        PSTypeName          = 'Kodo.EwsAccess'
        AppId               = [string]$Result.appId
        Status              = [string]$Result.status
        EwsEnabled          = $Result.ewsEnabled
        AllowedAppIdsBefore = @(foreach ($i in $Result.allowedAppIdsBefore) { if ($i) { $i } })
        AllowedAppIdsAfter  = @(foreach ($i in $Result.allowedAppIdsAfter) { if ($i) { $i } })
        EffectiveBy         = $(if ($effective) { [datetime]::Parse([string]$effective, [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::AdjustToUniversal) } else { $null })
        Reason              = [string](& $property 'reason')
        Command             = [string](& $property 'command')
        Notes               = @(foreach ($n in $Result.notes) { if ($n) { [string]$n } })
        EwsEndsOn           = [string]$Result.endsOn
        EndNotice           = [string]$Result.endNotice
    }
    if ($ews.Status -eq 'ManualActionRequired') {
        $text = "EWS: $($ews.Reason) Run: $($ews.Command)"
        Write-Warning -Message $text
    }
    $ews
}
