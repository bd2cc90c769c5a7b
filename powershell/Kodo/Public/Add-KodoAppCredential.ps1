function Add-KodoAppCredential {
    <#
    .SYNOPSIS
    Adds a new client secret or certificate to the KODO app, leaving the existing ones in place.

    .DESCRIPTION
    The new credential is valid from now, next to the old ones (the overlap window in which
    KODO can be switched over); nothing is removed. Returns a Kodo.App whose ClientSecret
    (SecureString) and SecretKeyId, or CertificateThumbprint and PFX, are the new credential.
    Remove old credentials with Remove-KodoAppCredential, or rotate in one step with
    Update-KodoAppCredential. Supports -WhatIf and -Confirm.

    .PARAMETER InputObject
    A Kodo.App (from New-KodoApp).

    .PARAMETER AppId
    The Application (client) ID of the app.

    .PARAMETER Type
    Secret (default) or Certificate.

    .PARAMETER Lifetime
    Days the new credential is valid: 1 to 730 (default 730 for a secret, 365 for a certificate).

    .PARAMETER CertificatePassword
    The password that protects the generated PFX (Type Certificate).

    .PARAMETER CertificatePath
    Where to write the generated PFX (Type Certificate); otherwise its bytes are returned.

    .EXAMPLE
    $new = Add-KodoAppCredential -AppId $clientId
    [System.Net.NetworkCredential]::new('', $new.ClientSecret).Password

    Adds a new secret; paste it into KODO, then remove the old one.

    .EXAMPLE
    Add-KodoAppCredential -AppId $clientId -Type Certificate -CertificatePassword $pw -CertificatePath ./kodo-2027.pfx

    Adds a new certificate credential.

    .OUTPUTS
    Kodo.App
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'AppId')]
    [OutputType('Kodo.App')]
    param(
        [Parameter(Mandatory, ValueFromPipeline, ParameterSetName = 'InputObject')]
        [PSTypeName('Kodo.App')]
        $InputObject,

        [Parameter(Mandatory, Position = 0, ParameterSetName = 'AppId')]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$AppId,

        [ValidateSet('Secret', 'Certificate')]
        [string]$Type = 'Secret',

        [ValidateRange(1, 730)]
        [int]$Lifetime,

        [System.Security.SecureString]$CertificatePassword,

        [string]$CertificatePath
    )

    process {
        try {
            $id = if ($InputObject) { [string]$InputObject.ClientId } else { $AppId }
            $parameters = @{ AppId = $id }
            if ($Type -eq 'Secret') {
                $parameters['NewSecret'] = $true
                if ($Lifetime) { $parameters['SecretLifetime'] = $Lifetime }
            } else {
                $parameters['NewCertificate'] = $true
                if ($CertificatePassword) { $parameters['CertificatePassword'] = $CertificatePassword }
                if ($CertificatePath) { $parameters['CertificatePath'] = $CertificatePath }
                if ($Lifetime) { $parameters['CertificateLifetime'] = $Lifetime }
            }
            New-KodoApp @parameters
        } catch {
            $PSCmdlet.ThrowTerminatingError($_)
        }
    }
}
