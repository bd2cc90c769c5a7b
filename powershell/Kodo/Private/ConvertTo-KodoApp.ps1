function ConvertTo-KodoApp {
    <#
    .SYNOPSIS
    Builds the Kodo.App object; the secret goes straight into a SecureString.
    #>
    [CmdletBinding()]
    [OutputType('Kodo.App')]
    param([Parameter(Mandatory)]$Result)

    $secure = $null
    $secretExpires = $null
    $secretProperty = $Result.PSObject.Properties['secret']
    if ($secretProperty -and $secretProperty.Value) {
        $secure = New-Object -TypeName System.Security.SecureString
        foreach ($c in ([string]$secretProperty.Value.secretText).ToCharArray()) { $secure.AppendChar($c) }
        $secure.MakeReadOnly()
        $secretExpires = [datetime]::Parse([string]$secretProperty.Value.endDateTime, [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::AdjustToUniversal)
        $Result.secret.secretText = $null
    }
    $app = $Result.app
    # Statements, not pipelines, here and below: in a new process each pipeline cmdlet's first
    # use costs milliseconds (benches/results/local-cost.md).
    $latest = $null
    foreach ($p in $app.passwordCredentials) {
        if ($p -and $p.endDateTime -and (-not $latest -or [datetime]$p.endDateTime -gt [datetime]$latest.endDateTime)) { $latest = $p }
    }
    if (-not $secretExpires -and $latest) { $secretExpires = [datetime]::Parse([string]$latest.endDateTime, [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::AdjustToUniversal) }
    $cert = $null
    foreach ($k in $app.keyCredentials) { if ($k) { $cert = $k; break } }
    [pscustomobject]@{
        PSTypeName            = 'Kodo.App'
        TenantId              = [string]$Result.tenantId
        ClientId              = [string]$app.appId
        ClientSecret          = $secure
        SecretExpiresOn       = $secretExpires
        SecretKeyId           = $(if ($secretProperty -and $secretProperty.Value) { [string]$secretProperty.Value.keyId } else { $null })
        DisplayName           = [string]$app.displayName
        ObjectId              = [string]$app.id
        ServicePrincipalId    = [string]$Result.servicePrincipalId
        CertificateThumbprint = $(if ($cert) { [string]$cert.customKeyIdentifier } else { $null })
        CertificateExpiresOn  = $(if ($cert) { [datetime]::Parse([string]$cert.endDateTime, [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::AdjustToUniversal) } else { $null })
        Changes               = @(foreach ($c in $Result.changes) { if ($c) { [string]$c.action } })
        # What the tenant's app management policy changed (secrets blocked, lifetime capped).
        CredentialNote        = $(if ($Result.PSObject.Properties['credential'] -and $Result.credential) { [string]$Result.credential.note } else { $null })
    }
}
