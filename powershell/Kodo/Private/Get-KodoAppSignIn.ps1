function Get-KodoAppSignIn {
    <#
    .SYNOPSIS
    The app's own sign-ins from a cmdlet's -ClientSecret and certificate parameters (Test-KodoApp, Test-KodoConsent): a secret, a certificate, or both.
    .DESCRIPTION
    Returns SignIn (the credential specs for the native request, the secret's first) and Signers
    (certificates whose key stays in .NET, for Invoke-KodoNative -SigningCertificate). The caller
    drops the result once its request is sent: it holds the secret in clear.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][string]$ClientId,
        [System.Security.SecureString]$ClientSecret,
        [string]$CertificatePath,
        [System.Security.SecureString]$CertificatePassword,
        [System.Security.Cryptography.X509Certificates.X509Certificate2]$Certificate,
        [string]$CertificateThumbprint,
        [Parameter(Mandatory)][System.Management.Automation.SessionState]$SessionState
    )
    $sources = @(@($CertificatePath, $Certificate, $CertificateThumbprint) | Where-Object { $_ })
    if ($sources.Count -gt 1) {
        throw (New-KodoErrorRecord -ErrorId 'Kodo.TooManyCertificates' -Category InvalidArgument -TargetObject $ClientId `
            -Message 'Give the certificate one way: -CertificatePath, -Certificate or -CertificateThumbprint.')
    }
    $signIn = New-Object -TypeName System.Collections.ArrayList
    $signers = @()
    if ($ClientSecret) {
        $null = $signIn.Add([ordered]@{ kind = 'clientSecret'; clientId = $ClientId; secret = (ConvertFrom-KodoSecureString -SecureString $ClientSecret) })
    }
    if ($sources.Count -eq 1) {
        $certificateCredential = Get-KodoCertificateCredential -ClientId $ClientId -CertificateThumbprint $CertificateThumbprint `
            -Certificate $Certificate -CertificatePath $CertificatePath -CertificatePassword $CertificatePassword -SessionState $SessionState
        $null = $signIn.Add($certificateCredential.Credential)
        if ($certificateCredential.SigningCertificate) { $signers = @($certificateCredential.SigningCertificate) }
    }
    [pscustomobject]@{ SignIn = @($signIn); Signers = $signers }
}
