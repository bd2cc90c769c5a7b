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
    $latest = @($app.passwordCredentials | Where-Object { $_ -and $_.endDateTime } | Sort-Object { [datetime]$_.endDateTime } -Descending) | Select-Object -First 1
    if (-not $secretExpires -and $latest) { $secretExpires = [datetime]::Parse([string]$latest.endDateTime, [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::AdjustToUniversal) }
    $cert = @($app.keyCredentials) | Where-Object { $_ } | Select-Object -First 1
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
        Changes               = @($Result.changes | Where-Object { $_ } | ForEach-Object { [string]$_.action })
        # What the tenant's app management policy changed (secrets blocked, lifetime capped).
        CredentialNote        = $(if ($Result.PSObject.Properties['credential'] -and $Result.credential) { [string]$Result.credential.note } else { $null })
    }
}
