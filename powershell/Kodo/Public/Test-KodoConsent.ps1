function Test-KodoConsent {
    <#
    .SYNOPSIS
    Checks from the provider's side that a customer tenant has consented to the multi-tenant KODO app (service principal present, every application permission granted) and, with -EwsMailbox, that its Exchange admits the app to EWS.

    .DESCRIPTION
    Signs in to each customer tenant as the app (client credentials, with the app's secret or
    certificate) once per API the manifest requires application permissions of (Microsoft Graph,
    Exchange Online, SharePoint), and compares each token's roles with the manifest. A sign-in
    refused because the app has no service principal there (AADSTS7000229, or AADSTS700016) is
    reported as NotConsented, not thrown. Writes nothing. Delegated permissions are not in an
    app's token and are not checked.

    Consent is not all KODO needs: it reads mail through Exchange Web Services, which since
    2026-10-01 admits only the apps on the customer organization's allow list (EwsAllowedAppIDs),
    and the consent link does not put the app there. With -EwsMailbox (one of the customer's
    mailboxes) Kodo reads that mailbox's folder root through EWS as the app: the proof that KODO
    can back the tenant up. Without it, a complete consent is Consented, not Ready.

    Returns one Kodo.ConsentStatus per tenant: Status (Ready: consented and admitted to EWS;
    Consented: consented, EWS not checked; EwsNotAdmitted: consented, EWS refused the app;
    Incomplete; NotConsented), BackupReady (Status is Ready), Consented, ServicePrincipalPresent,
    GrantedRoles, RequiredRoles, Missing (API: permission), EwsAccess (Admitted, Denied, Failed,
    NotChecked), EwsDetail, Detail. Needs a connection (Connect-Kodo) only for the cloud's
    endpoints.

    With -LedgerPath each tenant's result is tracked in a consent ledger (as New-KodoConsentLink
    -LedgerPath starts it): NotConsented stays planned, Consented, EwsNotAdmitted and Incomplete
    are inProgress with the next action, Ready is done. A record is written only when a tenant's
    state changes. With -WhatIf it still checks (it only reads), and records nothing. A customer
    linked by a domain and checked by its tenant id is one entry: the check then reads the
    customer's verified domains as the app (once, only when the ledger needs them).

    .PARAMETER AppId
    The Application (client) ID of the multi-tenant app.

    .PARAMETER TenantId
    The customer tenant(s): tenant ids or domains. Accepts Kodo.ConsentLink objects.

    .PARAMETER ClientSecret
    A client secret of the app.

    .PARAMETER CertificatePath
    A PFX or PEM file of the app's certificate (with its private key).

    .PARAMETER CertificatePassword
    The password of the PFX file given with -CertificatePath.

    .PARAMETER Certificate
    An X509Certificate2 of the app with its private key.

    .PARAMETER CertificateThumbprint
    The thumbprint of the app's certificate in Cert:\CurrentUser\My or Cert:\LocalMachine\My.

    .PARAMETER EwsMailbox
    A mailbox (SMTP address) of the customer's for the EWS check: Kodo reads its folder root
    through Exchange Web Services as the app. Denied while the app is not on the customer's allow
    list, or until a change reaches Exchange (up to 24 hours).

    .PARAMETER LedgerPath
    A consent ledger (JSON Lines) to record each tenant's result in. Read it with
    Get-KodoOnboardingStatus.

    .PARAMETER Manifest
    The built-in manifest to check against: Seed (default) or Kodo43.

    .PARAMETER ManifestPath
    Your own manifest file.

    .EXAMPLE
    Test-KodoConsent -AppId $app.ClientId -TenantId 'contoso.onmicrosoft.com' -ClientSecret $app.ClientSecret

    One object: Consented, or what is missing.

    .EXAMPLE
    Test-KodoConsent -AppId $app.ClientId -TenantId 'contoso.onmicrosoft.com' -ClientSecret $app.ClientSecret -EwsMailbox 'admin@contoso.onmicrosoft.com'

    Ready (BackupReady True) only when the consent is complete and Exchange admits the app to EWS.

    .EXAMPLE
    Import-Csv ./consent-links.csv | Test-KodoConsent -AppId $app.ClientId -ClientSecret $secret | Where-Object { -not $_.Consented }

    The customers whose administrators have not consented yet.

    .EXAMPLE
    Get-KodoOnboardingStatus -LedgerPath ./consents.jsonl | Where-Object State -ne done | Test-KodoConsent -AppId $app.ClientId -ClientSecret $secret -LedgerPath ./consents.jsonl

    Re-checks every customer not yet Ready and records what changed; then
    Get-KodoOnboardingStatus -LedgerPath ./consents.jsonl -Summary counts the fleet.

    .OUTPUTS
    Kodo.ConsentStatus
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Low')]
    [OutputType('Kodo.ConsentStatus')]
    param(
        [Parameter(Mandatory)]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$AppId,

        [Parameter(Mandatory, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [ValidateNotNullOrEmpty()]
        [string[]]$TenantId,

        [System.Security.SecureString]$ClientSecret,

        [ValidateNotNullOrEmpty()]
        [string]$CertificatePath,

        [System.Security.SecureString]$CertificatePassword,

        [System.Security.Cryptography.X509Certificates.X509Certificate2]$Certificate,

        [ValidatePattern('^[0-9a-fA-F]{40}$')]
        [string]$CertificateThumbprint,

        [ValidatePattern('^[^@\s]+@[^@\s]+$')]
        [string]$EwsMailbox,

        [ValidateNotNullOrEmpty()]
        [string]$LedgerPath,

        [ValidateSet('Seed', 'Kodo43')]
        [string]$Manifest = 'Seed',

        [string]$ManifestPath
    )

    begin {
        try {
            $manifestObject = Get-KodoManifest -Name $Manifest -Path $ManifestPath
            $sources = @(@($ClientSecret, $CertificatePath, $Certificate, $CertificateThumbprint) | Where-Object { $_ })
            if ($sources.Count -ne 1) {
                throw (New-KodoErrorRecord -ErrorId 'Kodo.NoSignInCredential' -Category InvalidArgument -TargetObject $AppId `
                    -Message 'Give one credential of the app: -ClientSecret, -CertificatePath, -Certificate or -CertificateThumbprint.')
            }
        } catch {
            $PSCmdlet.ThrowTerminatingError($_)
        }
    }

    process {
        foreach ($tenant in $TenantId) {
            $request = $null
            try {
                $credentials = Get-KodoAppSignIn -ClientId $AppId -ClientSecret $ClientSecret -CertificateThumbprint $CertificateThumbprint -Certificate $Certificate `
                    -CertificatePath $CertificatePath -CertificatePassword $CertificatePassword -SessionState $ExecutionContext.SessionState
                $signIn = $credentials.SignIn[0]
                $signers = $credentials.Signers
                $credentials = $null
                $request = [ordered]@{ kind = 'consent.test'; appId = $AppId; tenantId = $tenant; manifest = $manifestObject; signIn = $signIn }
                if ($EwsMailbox) { $request['ewsMailbox'] = $EwsMailbox }
                $ledgerFile = Resolve-KodoConsentLedger -Cmdlet $PSCmdlet -LedgerPath $LedgerPath -TenantId $tenant -Action 'Record the consent check'
                if ($ledgerFile) { $request['ledgerPath'] = $ledgerFile }
                $r = Invoke-KodoNative -Cmdlet $PSCmdlet -Request $request -SigningCertificate $signers
                [pscustomobject]@{
                    PSTypeName              = 'Kodo.ConsentStatus'
                    TenantId                = [string]$r.tenantId
                    AppId                   = [string]$r.appId
                    Status                  = [string]$r.status
                    BackupReady             = [bool]$r.backupReady
                    Consented               = [bool]$r.consented
                    ServicePrincipalPresent = [bool]$r.servicePrincipalPresent
                    GrantedRoles            = [int]$r.grantedRoles
                    RequiredRoles           = [int]$r.requiredRoles
                    Missing                 = @($r.missing | ForEach-Object { [string]$_ })
                    EwsAccess               = [string]$r.ewsAccess
                    EwsDetail               = [string]$r.ewsDetail
                    Detail                  = [string]$r.detail
                }
            } catch {
                $PSCmdlet.WriteError($_)
            } finally {
                $request = $null
                $signIn = $null
            }
        }
    }
}
