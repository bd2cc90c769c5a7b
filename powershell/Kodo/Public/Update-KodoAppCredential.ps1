function Update-KodoAppCredential {
    <#
    .SYNOPSIS
    Rotates the KODO app's client secret or certificate: adds a new one, returns it, and removes the old ones only when told to.

    .DESCRIPTION
    One-step rotation with no moment without a working credential: the new secret (or
    certificate) is added first and returned; the old ones keep working until KODO uses the new
    one. With -RemoveOld, the credentials of that type that existed before the rotation are
    removed after the new one was added (do this once KODO has the new one). Supports -WhatIf
    and -Confirm: -WhatIf names both the credential it would add and, with -RemoveOld, each one
    it would remove. Takes AppId from the pipeline (Get-KodoApp, New-KodoApp).

    .PARAMETER AppId
    The Application (client) ID of the app.

    .PARAMETER Type
    Secret (default) or Certificate.

    .PARAMETER Lifetime
    Days the new credential is valid: 1 to 730 (default 730 for a secret, 365 for a certificate).

    .PARAMETER CertificatePassword
    The password that protects the new certificate's PFX (Type Certificate; required).

    .PARAMETER CertificatePath
    Where to write the new certificate's PFX (Type Certificate); otherwise its bytes are returned.

    .PARAMETER RemoveOld
    Also remove every credential of this type that existed before this rotation.

    .EXAMPLE
    $new = Update-KodoAppCredential -AppId $clientId

    Adds a new secret and leaves the old ones until you remove them.

    .EXAMPLE
    Update-KodoAppCredential -AppId $clientId -RemoveOld -Confirm:$false

    Rotates and removes the old secrets (a runbook that also updates KODO).

    .EXAMPLE
    Get-KodoApp -AppId $clientId | Update-KodoAppCredential -Type Certificate -CertificatePassword $pw -CertificatePath ./kodo-2027.pfx -RemoveOld -WhatIf

    Shows the certificate it would add and every old certificate it would remove, and changes nothing.

    .OUTPUTS
    Kodo.App
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Kodo.App')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$AppId,

        [ValidateSet('Secret', 'Certificate')]
        [string]$Type = 'Secret',

        [ValidateRange(1, 730)]
        [int]$Lifetime,

        [System.Security.SecureString]$CertificatePassword,

        [string]$CertificatePath,

        [switch]$RemoveOld
    )

    process {
        try {
            $before = Invoke-KodoNative -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'app.ensure'; displayName = 'Kodo'; appId = $AppId; approval = @{ dryRun = $true } })
            $existing = if ($Type -eq 'Secret') { $before.app.passwordCredentials } else { $before.app.keyCredentials }
            $oldKeys = @($existing | Where-Object { $_ } | ForEach-Object { [string]$_.keyId })
            $add = @{ AppId = $AppId; Type = $Type }
            if ($Lifetime) { $add['Lifetime'] = $Lifetime }
            if ($CertificatePassword) { $add['CertificatePassword'] = $CertificatePassword }
            if ($CertificatePath) { $add['CertificatePath'] = $CertificatePath }
            $new = Add-KodoAppCredential @add
            if ($WhatIfPreference) {
                # Nothing was added: say what the removal would be as well.
                if ($RemoveOld -and $oldKeys.Count -gt 0) { Remove-KodoAppCredential -AppId $AppId -KeyId $oldKeys -Confirm:$false }
                return
            }
            $added = if ($Type -eq 'Secret') { $new -and $new.PSObject.Properties['ClientSecret'] -and $new.ClientSecret } else { $new -and $new.PSObject.Properties['CertificateThumbprint'] -and $new.CertificateThumbprint }
            if (-not $added) { return }
            if ($RemoveOld -and $oldKeys.Count -gt 0) {
                Remove-KodoAppCredential -AppId $AppId -KeyId $oldKeys -Confirm:$false
            }
            $new
        } catch {
            $PSCmdlet.ThrowTerminatingError($_)
        }
    }
}
