function Get-KodoSignatureAnswer {
    <#
    .SYNOPSIS
    Signs the bytes of a native 'sign' request with the matching certificate's private key.
    .DESCRIPTION
    Used for certificates whose key cannot or should not leave .NET (the Windows certificate
    store, a PFX loaded by Connect-Kodo). RS256: RSA PKCS#1 v1.5 with SHA-256. Returns the answer
    object for kodo_op_respond; a failure is returned as an error text, never thrown across the
    native call.
    #>
    [CmdletBinding()]
    [OutputType([hashtable])]
    param(
        [Parameter(Mandatory)]$Request,
        # Certificates of this operation (e.g. Test-KodoApp's live check), besides the connected one.
        [System.Security.Cryptography.X509Certificates.X509Certificate2[]]$Certificate
    )

    $answer = [ordered]@{ v = $script:KodoProtocolVersion; requestId = [string]$Request.requestId }
    $candidates = @(@($Certificate) + @($script:KodoSigningCertificate) | Where-Object { $null -ne $_ })
    if ($candidates.Count -eq 0) {
        $answer['error'] = 'No certificate is loaded for signing.'
        return $answer
    }
    $cert = $candidates | Where-Object { $_.Thumbprint -eq [string]$Request.thumbprint } | Select-Object -First 1
    if (-not $cert) {
        $answer['error'] = "No loaded certificate is the one to sign with ($($Request.thumbprint))."
        return $answer
    }
    try {
        $rsa = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($cert)
        if (-not $rsa) { throw 'The certificate has no RSA private key.' }
        $bytes = [Convert]::FromBase64String([string]$Request.data)
        $signature = $rsa.SignData($bytes, [System.Security.Cryptography.HashAlgorithmName]::SHA256, [System.Security.Cryptography.RSASignaturePadding]::Pkcs1)
        $answer['signature'] = [Convert]::ToBase64String($signature)
    } catch {
        $answer['error'] = "The certificate's private key could not sign: $($_.Exception.Message)"
    }
    $answer
}
