function ConvertTo-KodoMailboxScope {
    <#
    .SYNOPSIS
    Turns the native mailboxScope result (Grant-KodoPermissions / Invoke-KodoOnboarding -MailboxScope) into a Kodo.MailboxScope object.
    #>
    [CmdletBinding()]
    [OutputType('Kodo.MailboxScope')]
    param([Parameter(Mandatory)][AllowNull()]$Result, [AllowEmptyString()][string]$AppId)

    if (-not $Result) { return }
    $roles = @(foreach ($r in $Result.roles) {
        if ($r) { [pscustomobject]@{ PSTypeName = 'Kodo.MailboxScopeRole'; Role = [string]$r.role; Permissions = @($r.permissions); Status = [string]$r.status } }
    })
    $verified = $null
    if ($Result.verification) { $verified = [bool]$Result.verification.passed }
    [pscustomobject]@{
        PSTypeName              = 'Kodo.MailboxScope'
        AppId                   = $AppId
        Status                  = [string]$Result.status
        AdministrativeUnitId    = [string]$Result.administrativeUnit.id
        AdministrativeUnit      = [string]$Result.administrativeUnit.displayName
        MailboxesInScope        = [int]$Result.mailboxesInScope
        MailboxesOutOfScope     = [int]$Result.mailboxesOutOfScope
        Roles                   = $roles
        ExchangeServicePrincipal = $(if ($Result.servicePrincipal) { [string]$Result.servicePrincipal.objectId } else { $null })
        Verified                = $verified
        Verification            = $Result.verification
        EffectiveBy             = $(if ($Result.effectiveBy) { [datetime]::Parse([string]$Result.effectiveBy, [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::AdjustToUniversal) } else { $null })
        Notes                   = @($Result.notes)
    }
}
