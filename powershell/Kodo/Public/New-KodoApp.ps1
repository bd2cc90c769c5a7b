function New-KodoApp {
    <#
    .SYNOPSIS
    Creates (or finds) the Entra ID app registration KODO for Cloud uses, with its service principal and a client secret.

    .DESCRIPTION
    Steps 4-10 of KODO's "Configure Microsoft 365 access": registers a single-tenant app with the
    display name you give, creates its service principal, and creates a client secret. Returns a
    Kodo.App object with exactly what KODO's "Add Microsoft 365 organization" dialog asks for:
    TenantId, ClientId and ClientSecret (a SecureString), plus the secret's expiry and the
    object ids.

    Safe to run again: the app is found by -AppId, or by the KodoManaged tag Kodo writes on it
    (never by display name alone; two tagged apps is an error naming both). Nothing is created
    twice. A new secret is made only when the app is new, has no unexpired secret, or
    -NewSecret is given; an existing secret cannot be read back, so ClientSecret is then empty.

    Supports -WhatIf (shows each create and writes nothing) and -Confirm.

    .PARAMETER DisplayName
    The app registration's display name, shown in Entra ID (for a new app).

    .PARAMETER AppId
    The Application (client) ID of an existing app to use instead of looking for Kodo's tag.

    .PARAMETER SecretLifetime
    How long a new client secret is valid: 1 to 730 days (24 months); default 730 days.

    .PARAMETER NewSecret
    Create a new client secret even if the app has a valid one.

    .PARAMETER NewCertificate
    Also generate a certificate credential (RSA 2048, self-signed) and add its public key to the
    app. The private key is returned only as a PFX protected by -CertificatePassword: written to
    -CertificatePath, or in the CertificatePfx property (bytes). It is never logged.

    .PARAMETER Certificate
    Add this certificate's public key to the app as a credential (its private key stays where
    it is).

    .PARAMETER CertificatePassword
    The password that protects the generated PFX (required with -NewCertificate).

    .PARAMETER CertificatePath
    Where to write the generated PFX. Without it, the PFX bytes are returned in CertificatePfx.

    .PARAMETER CertificateLifetime
    How long a generated certificate is valid: 1 to 730 days; default 365.

    .PARAMETER MultiTenant
    Register (or turn) the app multi-tenant (signInAudience AzureADMultipleOrgs), for a service
    provider whose customers consent to it with New-KodoConsentLink. Without it the app stays
    single-tenant (the default). Needs -ConsentRedirectUri.

    .PARAMETER ConsentRedirectUri
    With -MultiTenant: the web redirect URI(s) the admin consent link returns to (https, or
    http://localhost). Added to the app's existing ones.

    .EXAMPLE
    $app = New-KodoApp -DisplayName 'KODO for Cloud backup'
    $app.TenantId; $app.ClientId
    [System.Net.NetworkCredential]::new('', $app.ClientSecret).Password

    Creates the app and shows the three values KODO's "Add Microsoft 365 organization" dialog asks for (clear the screen after pasting the secret).

    .EXAMPLE
    New-KodoApp -DisplayName 'KODO for Cloud backup' -WhatIf

    Shows what would be created, and creates nothing.

    .EXAMPLE
    New-KodoApp -DisplayName 'KODO for Cloud backup' -NewCertificate -CertificatePassword (Read-Host -AsSecureString) -CertificatePath ./kodo.pfx

    Also creates a certificate credential (SharePoint accepts app-only tokens only from a
    certificate) and writes its PFX.

    .EXAMPLE
    New-KodoApp -AppId 11111111-2222-3333-4444-555555555555 -NewSecret -SecretLifetime 180

    Adds a 180-day secret to an existing app.

    .EXAMPLE
    New-KodoApp -MultiTenant -ConsentRedirectUri 'https://partner.example/kodo/consented' -NewSecret

    A service provider's one multi-tenant app; each customer then consents through New-KodoConsentLink.

    .OUTPUTS
    Kodo.App
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Kodo.App')]
    param(
        [Parameter(Position = 0)]
        [ValidateNotNullOrEmpty()]
        [string]$DisplayName = 'KODO for Cloud backup',

        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$AppId,

        [ValidateRange(1, 730)]
        [int]$SecretLifetime = 730,

        [switch]$NewSecret,

        [switch]$NewCertificate,

        [System.Security.Cryptography.X509Certificates.X509Certificate2]$Certificate,

        [System.Security.SecureString]$CertificatePassword,

        [string]$CertificatePath,

        [ValidateRange(1, 730)]
        [int]$CertificateLifetime = 365,

        [switch]$MultiTenant,

        [ValidateNotNullOrEmpty()]
        [string[]]$ConsentRedirectUri
    )

    try {
        $request = [ordered]@{ kind = 'app.ensure'; displayName = $DisplayName; newSecret = [bool]$NewSecret; secretLifetimeDays = $SecretLifetime }
        if ($AppId) { $request['appId'] = $AppId }
        if ($ConsentRedirectUri -and -not $MultiTenant) {
            throw (New-KodoErrorRecord -ErrorId 'Kodo.InvalidArgument' -Category InvalidArgument -Message '-ConsentRedirectUri goes with -MultiTenant.')
        }
        if ($MultiTenant) {
            if (-not $ConsentRedirectUri) {
                throw (New-KodoErrorRecord -ErrorId 'Kodo.InvalidArgument' -Category InvalidArgument -Message '-MultiTenant needs -ConsentRedirectUri: the address the admin consent link returns to.')
            }
            $request['multiTenant'] = $true
            $request['redirectUris'] = @($ConsentRedirectUri)
        }
        if ($NewCertificate -and $Certificate) {
            throw (New-KodoErrorRecord -ErrorId 'Kodo.InvalidArgument' -Category InvalidArgument -Message 'Use -NewCertificate or -Certificate, not both.')
        }
        if ($NewCertificate) {
            $generated = New-KodoPfxCertificate -Subject $DisplayName -Days $CertificateLifetime -Password $CertificatePassword -PasswordParameter '-CertificatePassword'
            $Certificate = $generated
        }
        if ($Certificate) { $request['certificate'] = [Convert]::ToBase64String($Certificate.RawData) }
        $run = Invoke-KodoPlannedChange -Cmdlet $PSCmdlet -Request $request -NothingToDo 'The Kodo app is already in place: nothing to change.'
        if ($run.Planned -gt 0 -and $run.Approved.Count -eq 0) { return }
        $result = $run.Result
        $approved = $run.Approved
        $app = ConvertTo-KodoApp -Result $result
        if ($NewCertificate -and $approved -contains 'addCertificate') {
            Export-KodoCertificatePfx -Target $app -Certificate $generated -Password $CertificatePassword -Path $CertificatePath -SessionState $ExecutionContext.SessionState
        } elseif ($Certificate -and $result.PSObject.Properties['certificateThumbprint'] -and $result.certificateThumbprint) {
            $app.CertificateThumbprint = [string]$result.certificateThumbprint
            $app.CertificateExpiresOn = $Certificate.NotAfter.ToUniversalTime()
        }
        $PSCmdlet.WriteObject($app)
        # Written: the new secret is in the caller's hands, and its mark on the app can go.
        if ($result.PSObject.Properties['confirmSecret']) { Confirm-KodoSecretDelivery -Cmdlet $PSCmdlet -Confirmation $result.confirmSecret }
    } catch {
        $PSCmdlet.ThrowTerminatingError($_)
    }
}
