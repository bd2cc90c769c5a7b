function Get-KodoCertificateCredential {
    <#
    .SYNOPSIS
    Turns a certificate given by thumbprint, object or file into a native credential spec.
    .DESCRIPTION
    Shared by Connect-Kodo and Test-KodoApp. A PEM file (certificate and unencrypted PKCS#8 key)
    goes to the native library as text; a PFX, a store certificate or an X509Certificate2 keeps
    its private key in .NET and signs when the library asks ('sign' prompts answered by
    Get-KodoSignatureAnswer). Returns @{ Credential; SigningCertificate }.
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param(
        [Parameter(Mandatory)][string]$ClientId,
        [string]$CertificateThumbprint,
        [System.Security.Cryptography.X509Certificates.X509Certificate2]$Certificate,
        [string]$CertificatePath,
        [System.Security.SecureString]$CertificatePassword,
        [Parameter(Mandatory)][System.Management.Automation.SessionState]$SessionState
    )

    $signingCertificate = $null
    if ($CertificateThumbprint) {
        $signingCertificate = Find-KodoCertificate -Thumbprint $CertificateThumbprint
    } elseif ($Certificate) {
        if (-not $Certificate.HasPrivateKey) {
            throw (New-KodoErrorRecord -ErrorId 'Kodo.CertificateHasNoPrivateKey' -Category InvalidArgument -TargetObject $Certificate.Thumbprint `
                -Message "The certificate $($Certificate.Thumbprint) has no private key; Kodo signs in with the key.")
        }
        $signingCertificate = $Certificate
    } elseif ($CertificatePath) {
        $full = $SessionState.Path.GetUnresolvedProviderPathFromPSPath($CertificatePath)
        if (-not [System.IO.File]::Exists($full)) {
            throw (New-KodoErrorRecord -ErrorId 'Kodo.CertificateFileNotFound' -Category ObjectNotFound -TargetObject $full -Message "The certificate file '$full' does not exist.")
        }
        $text = $null
        if ([System.IO.Path]::GetExtension($full) -in @('.pem', '.crt', '.key')) { $text = [System.IO.File]::ReadAllText($full) }
        if ($text -and $text.Contains('-----BEGIN')) {
            return @{ Credential = [ordered]@{ kind = 'certificatePem'; clientId = $ClientId; pem = $text }; SigningCertificate = $null }
        }
        try {
            # EphemeralKeySet: the key is not written to the machine's key store.
            $flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::EphemeralKeySet
            if ($CertificatePassword) {
                $signingCertificate = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList @($full, $CertificatePassword, $flags)
            } else {
                $signingCertificate = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList @($full, [string]$null, $flags)
            }
        } catch {
            throw (New-KodoErrorRecord -ErrorId 'Kodo.CertificateFileUnreadable' -Category InvalidData -TargetObject $full `
                -Message "The certificate file '$full' could not be opened (a wrong -CertificatePassword, or not a PFX/PEM file): $($_.Exception.InnerException.Message)")
        }
    } else {
        return $null
    }
    @{
        Credential         = [ordered]@{ kind = 'hostCertificate'; clientId = $ClientId; certificate = [Convert]::ToBase64String($signingCertificate.RawData) }
        SigningCertificate = $signingCertificate
    }
}
