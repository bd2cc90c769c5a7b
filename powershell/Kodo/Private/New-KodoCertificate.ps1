function New-KodoCertificate {
    <#
    .SYNOPSIS
    A self-signed RSA-2048 certificate (with its private key, in memory) for an app credential.
    .DESCRIPTION
    CertificateRequest exists in .NET Framework 4.7.2 and .NET Core, so this works in Windows
    PowerShell 5.1 and PowerShell 7. The key is never written anywhere by this function.
    #>
    [CmdletBinding()]
    [OutputType([System.Security.Cryptography.X509Certificates.X509Certificate2])]
    param([Parameter(Mandatory)][string]$Subject, [Parameter(Mandatory)][int]$Days)

    # X.500 special characters would break the name; they add nothing to a credential's subject.
    $cn = ($Subject -replace '[,=+<>#;"\\]', ' ').Trim()
    if (-not $cn) { $cn = 'Kodo' }
    $rsa = [System.Security.Cryptography.RSA]::Create(2048)
    $request = New-Object -TypeName System.Security.Cryptography.X509Certificates.CertificateRequest -ArgumentList @(
        "CN=$cn", $rsa, [System.Security.Cryptography.HashAlgorithmName]::SHA256, [System.Security.Cryptography.RSASignaturePadding]::Pkcs1)
    $request.CertificateExtensions.Add((New-Object -TypeName System.Security.Cryptography.X509Certificates.X509KeyUsageExtension -ArgumentList @([System.Security.Cryptography.X509Certificates.X509KeyUsageFlags]::DigitalSignature, $true)))
    # Valid for exactly $Days (from five minutes ago, for clock skew): an app management policy
    # measures a certificate's lifetime from its start to its end.
    $start = [DateTimeOffset]::UtcNow.AddMinutes(-5)
    $request.CreateSelfSigned($start, $start.AddDays($Days))
}

function Set-KodoOwnerOnly {
    <#
    .SYNOPSIS
    Restricts a file to its owner where the platform allows (Unix mode 600 on .NET 7+).
    .DESCRIPTION
    WINDOWS SEAM: on Windows the file inherits the folder's ACL (a user profile folder is already
    private); not changed here, and unverified on Windows.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string]$Path)
    $modeType = 'System.IO.UnixFileMode' -as [type]   # .NET 7+ only; absent on .NET Framework
    if (-not $modeType -or $PSVersionTable.PSEdition -eq 'Desktop') { return }
    if ([System.Runtime.InteropServices.RuntimeInformation]::IsOSPlatform([System.Runtime.InteropServices.OSPlatform]::Windows)) { return }
    [System.IO.File]::SetUnixFileMode($Path, [Enum]::Parse($modeType, 'UserRead, UserWrite'))
}

function New-KodoPfxCertificate {
    <#
    .SYNOPSIS
    A new certificate credential for -NewCertificate: checks the PFX password first (the private key is only ever returned as a password-protected PFX).
    #>
    [CmdletBinding()]
    [OutputType([System.Security.Cryptography.X509Certificates.X509Certificate2])]
    param(
        [Parameter(Mandatory)][string]$Subject,
        [Parameter(Mandatory)][int]$Days,
        [System.Security.SecureString]$Password,
        [Parameter(Mandatory)][string]$PasswordParameter
    )
    if (-not $Password -or $Password.Length -eq 0) {
        throw (New-KodoErrorRecord -ErrorId 'Kodo.InvalidArgument' -Category InvalidArgument -Message "-NewCertificate needs $PasswordParameter`: the private key is only ever returned as a password-protected PFX.")
    }
    New-KodoCertificate -Subject $Subject -Days $Days
}

function Export-KodoCertificatePfx {
    <#
    .SYNOPSIS
    Hands a generated certificate to the admin: a password-protected PFX written to -Path (owner only), or its bytes on the result object; thumbprint and expiry on the object.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]$Target,
        [Parameter(Mandatory)][System.Security.Cryptography.X509Certificates.X509Certificate2]$Certificate,
        [Parameter(Mandatory)][System.Security.SecureString]$Password,
        [string]$Path,
        [Parameter(Mandatory)][System.Management.Automation.SessionState]$SessionState
    )
    $pfx = $Certificate.Export([System.Security.Cryptography.X509Certificates.X509ContentType]::Pfx, $Password)
    $Target | Add-Member -NotePropertyName CertificateThumbprint -NotePropertyValue $Certificate.Thumbprint -Force
    $Target | Add-Member -NotePropertyName CertificateExpiresOn -NotePropertyValue $Certificate.NotAfter.ToUniversalTime() -Force
    if ($Path) {
        $full = $SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
        [System.IO.File]::WriteAllBytes($full, $pfx)
        Set-KodoOwnerOnly -Path $full
        $Target | Add-Member -NotePropertyName CertificatePfxPath -NotePropertyValue $full
    } else {
        $Target | Add-Member -NotePropertyName CertificatePfx -NotePropertyValue $pfx
    }
}
