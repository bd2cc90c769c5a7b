function Find-KodoCertificate {
    <#
    .SYNOPSIS
    Finds a certificate with a private key by thumbprint in CurrentUser\My, then LocalMachine\My.
    .DESCRIPTION
    WINDOWS SEAM: on Windows these are the certificate stores admins use; on Linux and macOS .NET
    keeps a CurrentUser\My store of its own (LocalMachine\My is empty there). Verified on Linux
    only.
    #>
    [CmdletBinding()]
    [OutputType([System.Security.Cryptography.X509Certificates.X509Certificate2])]
    param([Parameter(Mandatory)][string]$Thumbprint)

    foreach ($location in @('CurrentUser', 'LocalMachine')) {
        $store = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Store -ArgumentList @('My', $location)
        try {
            $store.Open([System.Security.Cryptography.X509Certificates.OpenFlags]::ReadOnly)
            $found = $store.Certificates.Find([System.Security.Cryptography.X509Certificates.X509FindType]::FindByThumbprint, $Thumbprint, $false)
            foreach ($cert in $found) {
                if ($cert.HasPrivateKey) { return $cert }
            }
        } catch {
            Write-Verbose "Certificate store $location\My could not be read: $($_.Exception.Message)"
        } finally {
            $store.Close()
        }
    }
    throw (New-KodoErrorRecord -ErrorId 'Kodo.CertificateNotFound' -Category ObjectNotFound -TargetObject $Thumbprint `
        -Message "No certificate with thumbprint $Thumbprint and a private key is in Cert:\CurrentUser\My or Cert:\LocalMachine\My.")
}
