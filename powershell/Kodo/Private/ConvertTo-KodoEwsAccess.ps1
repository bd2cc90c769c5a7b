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
        AllowedAppIdsBefore = @($Result.allowedAppIdsBefore | Where-Object { $_ })
        AllowedAppIdsAfter  = @($Result.allowedAppIdsAfter | Where-Object { $_ })
        EffectiveBy         = $(if ($effective) { [datetime]::Parse([string]$effective, [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::AdjustToUniversal) } else { $null })
        Reason              = [string](& $property 'reason')
        Command             = [string](& $property 'command')
        Notes               = @($Result.notes | Where-Object { $_ } | ForEach-Object { [string]$_ })
        EwsEndsOn           = [string]$Result.endsOn
        EndNotice           = [string]$Result.endNotice
    }
    if ($ews.Status -eq 'ManualActionRequired') {
        $text = "EWS: $($ews.Reason) Run: $($ews.Command)"
        Write-Warning -Message $text
    }
    $ews
}
