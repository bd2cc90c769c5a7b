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

function Test-KodoCertificateStore {
    <#
    .SYNOPSIS
    Refuses -NewCertificateStoreLocation where the certificate store would not protect the key.
    .DESCRIPTION
    WINDOWS SEAM. On Windows the current user's personal store keeps a private key protected by
    the user's profile (DPAPI), where Connect-Kodo -CertificateThumbprint finds it. .NET on Linux
    and macOS emulates that store with PFX files without a password, which would leave the key
    in a file no password protects: refused there, before anything is written.
    #>
    [CmdletBinding()]
    param()
    if (-not [System.Runtime.InteropServices.RuntimeInformation]::IsOSPlatform([System.Runtime.InteropServices.OSPlatform]::Windows)) {
        throw (New-KodoErrorRecord -ErrorId 'Kodo.CertificateStoreUnavailable' -Category NotImplemented `
            -Message '-NewCertificateStoreLocation keeps the private key in the Windows certificate store, which exists on Windows only (.NET elsewhere would write it to a file without a password). Use -NewCertificatePath with -NewCertificatePassword.')
    }
}

function Save-KodoCertificateToStore {
    <#
    .SYNOPSIS
    Puts a generated certificate and its private key into Cert:\CurrentUser\My.
    .DESCRIPTION
    WINDOWS SEAM, unverified here: wine's CNG cannot make the certificate (see
    tests/windows/Kodo.Windows.Tests.ps1), so this runs only on Windows. The key that
    CertificateRequest makes is ephemeral; it is moved into the user's key store through an
    in-memory PFX with a random one-time password (never written), imported with PersistKeySet
    and UserKeySet and without Exportable, so the key cannot be exported from the store.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]$Target,
        [Parameter(Mandatory)][System.Security.Cryptography.X509Certificates.X509Certificate2]$Certificate
    )
    $oneTime = [guid]::NewGuid().ToString('N') + [guid]::NewGuid().ToString('N')
    $bytes = $Certificate.Export([System.Security.Cryptography.X509Certificates.X509ContentType]::Pfx, $oneTime)
    try {
        $flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]'PersistKeySet, UserKeySet'
        $persisted = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList @($bytes, $oneTime, $flags)
        $store = New-Object -TypeName System.Security.Cryptography.X509Certificates.X509Store -ArgumentList @('My', 'CurrentUser')
        $store.Open([System.Security.Cryptography.X509Certificates.OpenFlags]::ReadWrite)
        try { $store.Add($persisted) } finally { $store.Close() }
    } finally {
        [Array]::Clear($bytes, 0, $bytes.Length)
        $oneTime = $null
    }
    $Target | Add-Member -NotePropertyName CertificateThumbprint -NotePropertyValue $Certificate.Thumbprint -Force
    $Target | Add-Member -NotePropertyName CertificateExpiresOn -NotePropertyValue $Certificate.NotAfter.ToUniversalTime() -Force
    $Target | Add-Member -NotePropertyName CertificateStorePath -NotePropertyValue ('Cert:\CurrentUser\My\' + $Certificate.Thumbprint) -Force
}

function New-KodoTenantCertificate {
    <#
    .SYNOPSIS
    Answers a bulk run's 'certificate' question (Invoke-KodoOnboarding -TenantId -CredentialType Certificate): a new certificate for one tenant's app; returns its public part (base64 DER) and keeps it, key included, in -Sink until that tenant's result hands it to the admin (ConvertFrom-KodoTenantItem).
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory, Position = 0)]$Question,
        [Parameter(Mandatory, Position = 1)][System.Collections.IDictionary]$Sink
    )
    $certificate = New-KodoCertificate -Subject $Sink.Subject -Days $Sink.CertificateLifetime
    $Sink.Certificates[[string]$Question.tenantId] = $certificate
    [Convert]::ToBase64String($certificate.RawData)
}
