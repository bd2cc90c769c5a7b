function Connect-Kodo {
    <#
    .SYNOPSIS
    Signs in to a Microsoft 365 tenant for Kodo, the way admins and runbooks authenticate.

    .DESCRIPTION
    Signs in with one of: the system browser (an administrator at a desktop: the default), a
    device code (-UseDeviceCode: an administrator whose browser is on another device), a client secret, a
    certificate (from the certificate store by thumbprint, an X509Certificate2, or a PFX/PEM
    file), a managed identity (Azure Automation's IDENTITY_ENDPOINT/IDENTITY_HEADER, or a VM's),
    or an access token you already hold. Parameter names follow Connect-MgGraph.

    An administrator needs no app of their own: without -ClientId, Kodo signs in through
    Microsoft's own public client for each service, the ones Microsoft's admin tools use:
    Microsoft Graph Command Line Tools (14d82eec-204b-4c2f-b7e8-296a70dab67e, as Connect-MgGraph)
    for Microsoft Graph, Microsoft Exchange REST API Based Powershell
    (fb78d390-0c51-40cd-8e17-fdbfab77341b, as Connect-ExchangeOnline) for Exchange Online, and
    SharePoint Online Management Shell (9bc3ab49-b65d-410a-85ad-de819febfddc, as Connect-SPOService)
    for SharePoint. Each is pre-authorized by Microsoft for its own service only, so the first use
    of Exchange or SharePoint in a session signs in once more; the browser's single sign-on
    usually completes it without a prompt. SharePoint Online Management Shell cannot send a
    browser sign-in back to this computer, so its sign-in uses a device code.

    Kodo then gets tokens for Microsoft Graph, the tenant's SharePoint hosts and Exchange from
    this one sign-in, caches them in memory per resource, and renews them before they expire
    (a supplied access token cannot be renewed). The token is never shown: Get-KodoContext
    describes the connection. Secrets are passed to Kodo's native library in memory only and
    never appear in any output stream, error or log.

    Errors name the cause and what to do: a wrong or expired secret, an app that is not in the
    tenant, missing consent, MFA or Conditional Access, a managed identity that is not enabled.

    .PARAMETER TenantId
    The tenant: its id (GUID) or a domain such as contoso.onmicrosoft.com. Required with a
    secret or a certificate; taken from the token with -Identity and -AccessToken.

    .PARAMETER ClientId
    The Application (client) ID of the app registration to sign in as. For an administrator's
    sign-in (browser or -UseDeviceCode): a public client app of your own to sign in through for
    every service, instead of Microsoft's (it needs 'Allow public client flows' for a device code,
    and the redirect URI http://localhost for the browser). With -Identity: the client id of a
    user-assigned managed identity.

    .PARAMETER UseDeviceCode
    Sign in as an administrator with a device code: open the page shown, enter the code, and
    complete MFA in a browser on any device. For a session without a local browser (SSH,
    a server core). Conditional Access may block device code in your tenant. Ctrl+C cancels.

    .PARAMETER ClientSecretCredential
    A PSCredential whose user name is the client id and whose password is the client secret.

    .PARAMETER CertificateThumbprint
    The thumbprint of a certificate in the current user's or the local machine's personal
    store (Cert:\CurrentUser\My, Cert:\LocalMachine\My). Its private key never leaves the store.

    .PARAMETER Certificate
    An X509Certificate2 with its private key.

    .PARAMETER CertificatePath
    A PFX (.pfx/.p12, with -CertificatePassword) or PEM file (certificate and unencrypted
    PKCS#8 key).

    .PARAMETER CertificatePassword
    The password of the PFX file.

    .PARAMETER Identity
    Sign in with the managed identity of the Azure Automation account (or Azure resource) this
    runs in. Add -ClientId for a user-assigned identity.

    .PARAMETER AccessToken
    An access token (SecureString) for Microsoft Graph that you already hold. It is used until
    it expires and is not renewed.

    .PARAMETER Environment
    The cloud: Global (default), USGov, USGovDoD, China, or Emulator (the tenant emulator
    started by Start-KodoEmulator).

    .PARAMETER RequestTimeoutSec
    How long one request to Microsoft 365 may take, answer included, before Kodo counts it as
    unanswered (1 to 3600 seconds; 120 if not given). An unanswered read is sent again; an
    unanswered write is not, and the command stops so that a re-run finds what it did.

    .EXAMPLE
    Connect-Kodo -TenantId contoso.onmicrosoft.com

    An administrator signs in in the system browser, with no app of their own.

    .EXAMPLE
    Connect-Kodo -TenantId contoso.onmicrosoft.com -UseDeviceCode

    An administrator signs in with a device code, from a session with no local browser.

    .EXAMPLE
    $cred = Get-Credential -UserName $clientId -Message 'Client secret'
    Connect-Kodo -TenantId $tenantId -ClientSecretCredential $cred

    Signs in as an app with its client secret.

    .EXAMPLE
    Connect-Kodo -TenantId $tenantId -ClientId $clientId -CertificateThumbprint 'A1B2...'

    Signs in as an app with a certificate from the Windows certificate store.

    .EXAMPLE
    Connect-Kodo -TenantId $tenantId -ClientId $clientId -CertificatePath ./kodo.pfx -CertificatePassword (Read-Host -AsSecureString)

    Signs in with a certificate from a PFX file.

    .EXAMPLE
    Connect-Kodo -Identity

    In an Azure Automation runbook: signs in as the Automation account's managed identity.

    .EXAMPLE
    $emu = Start-KodoEmulator
    Connect-Kodo -Environment Emulator -TenantId $emu.Tenants[0].TenantId -ClientSecretCredential $emu.Tenants[0].BootstrapCredential

    Signs in to the local tenant emulator.

    .OUTPUTS
    Kodo.Context
    #>
    [CmdletBinding(DefaultParameterSetName = 'Browser')]
    [OutputType('Kodo.Context')]
    param(
        [Parameter(ParameterSetName = 'Browser')]
        [Parameter(ParameterSetName = 'DeviceCode')]
        [Parameter(Mandatory, ParameterSetName = 'ClientSecret')]
        [Parameter(Mandatory, ParameterSetName = 'CertificateThumbprint')]
        [Parameter(Mandatory, ParameterSetName = 'Certificate')]
        [Parameter(Mandatory, ParameterSetName = 'CertificatePath')]
        [ValidateNotNullOrEmpty()]
        [string]$TenantId,

        [Parameter(ParameterSetName = 'Browser')]
        [Parameter(ParameterSetName = 'DeviceCode')]
        [Parameter(Mandatory, ParameterSetName = 'CertificateThumbprint')]
        [Parameter(Mandatory, ParameterSetName = 'Certificate')]
        [Parameter(Mandatory, ParameterSetName = 'CertificatePath')]
        [Parameter(ParameterSetName = 'Identity')]
        [ValidateNotNullOrEmpty()]
        [string]$ClientId,

        [Parameter(Mandatory, ParameterSetName = 'DeviceCode')]
        [switch]$UseDeviceCode,

        [Parameter(Mandatory, ParameterSetName = 'ClientSecret')]
        [System.Management.Automation.PSCredential]$ClientSecretCredential,

        [Parameter(Mandatory, ParameterSetName = 'CertificateThumbprint')]
        [ValidatePattern('^[0-9a-fA-F]{40}$')]
        [string]$CertificateThumbprint,

        [Parameter(Mandatory, ParameterSetName = 'Certificate')]
        [System.Security.Cryptography.X509Certificates.X509Certificate2]$Certificate,

        [Parameter(Mandatory, ParameterSetName = 'CertificatePath')]
        [ValidateNotNullOrEmpty()]
        [string]$CertificatePath,

        [Parameter(ParameterSetName = 'CertificatePath')]
        [System.Security.SecureString]$CertificatePassword,

        [Parameter(Mandatory, ParameterSetName = 'Identity')]
        [switch]$Identity,

        [Parameter(Mandatory, ParameterSetName = 'AccessToken')]
        [System.Security.SecureString]$AccessToken,

        [ValidateSet('Global', 'USGov', 'USGovDoD', 'China', 'Emulator')]
        [string]$Environment = 'Global',

        [ValidateRange(1, 3600)]
        [int]$RequestTimeoutSec
    )

    try {
        $environmentSpec = Get-KodoEnvironmentSpec -Environment $Environment
        if ($PSBoundParameters.ContainsKey('RequestTimeoutSec')) { $environmentSpec['requestTimeoutSeconds'] = $RequestTimeoutSec }
        $signingCertificate = $null
        switch ($PSCmdlet.ParameterSetName) {
            'Browser' {
                if ([Environment]::GetEnvironmentVariable('AUTOMATION_ASSET_ACCOUNTID')) {
                    # An Azure Automation job has no browser and no one to sign in.
                    throw (New-KodoErrorRecord -ErrorId 'Kodo.InteractiveSignInUnavailable' -Category InvalidOperation `
                        -Message 'This runs in Azure Automation, where no one can sign in in a browser. Use Connect-Kodo -Identity (the Automation account''s managed identity) or a certificate.')
                }
                $credential = [ordered]@{ kind = 'browser' }
                if ($ClientId) { $credential['clientId'] = $ClientId }
            }
            'DeviceCode' {
                $credential = [ordered]@{ kind = 'deviceCode' }
                if ($ClientId) { $credential['clientId'] = $ClientId }
            }
            'ClientSecret' {
                $credential = [ordered]@{ kind = 'clientSecret'; clientId = $ClientSecretCredential.UserName; secret = $ClientSecretCredential.GetNetworkCredential().Password }
            }
            { $_ -in 'CertificateThumbprint', 'Certificate', 'CertificatePath' } {
                $certificateCredential = Get-KodoCertificateCredential -ClientId $ClientId -CertificateThumbprint $CertificateThumbprint `
                    -Certificate $Certificate -CertificatePath $CertificatePath -CertificatePassword $CertificatePassword -SessionState $ExecutionContext.SessionState
                $credential = $certificateCredential.Credential
                $signingCertificate = $certificateCredential.SigningCertificate
            }
            'Identity' {
                $credential = [ordered]@{ kind = 'managedIdentity' }
                if ($ClientId) { $credential['clientId'] = $ClientId }
                # Read here, not in the native library: $env: changes made in PowerShell are not
                # visible to native code on Linux and macOS.
                $endpoint = [Environment]::GetEnvironmentVariable('IDENTITY_ENDPOINT')
                $header = [Environment]::GetEnvironmentVariable('IDENTITY_HEADER')
                if ($endpoint -and $header) {
                    $credential['endpoint'] = $endpoint
                    $credential['header'] = $header
                } else {
                    $imds = [Environment]::GetEnvironmentVariable('KODO_IMDS_ENDPOINT')
                    if ($imds) { $credential['imdsEndpoint'] = $imds }
                }
            }
            'AccessToken' {
                $credential = [ordered]@{ kind = 'accessToken'; token = (ConvertFrom-KodoSecureString -SecureString $AccessToken) }
            }
        }
        $request = [ordered]@{ kind = 'connect'; environment = $environmentSpec; credential = $credential }
        if ($TenantId) { $request['tenantId'] = $TenantId }

        $previous = $script:KodoSigningCertificate
        $script:KodoSigningCertificate = $signingCertificate
        try {
            $context = Invoke-KodoNative -Cmdlet $PSCmdlet -Request $request
        } catch {
            $script:KodoSigningCertificate = $previous
            throw
        } finally {
            $request = $null
            $credential = $null
        }
        ConvertTo-KodoContext -Context $context
    } catch {
        $PSCmdlet.ThrowTerminatingError($_)
    }
}
