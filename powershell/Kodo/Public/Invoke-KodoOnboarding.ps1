function Invoke-KodoOnboarding {
    <#
    .SYNOPSIS
    The whole KODO procedure in one idempotent call, for runbooks: connect, app, credentials, permissions, consent, audit; the retired steps reported.

    .DESCRIPTION
    For Azure Automation and other unattended runs: no prompts, objects only, progress a job
    log can show. Signs in with the managed identity when IDENTITY_ENDPOINT is set and no
    connection exists yet (or uses the current Connect-Kodo connection); ensures the Kodo app,
    its service principal and a credential (New-KodoApp), every permission of the manifest and
    admin consent (Grant-KodoPermissions), then audits the result (Test-KodoApp). Running it
    again changes nothing.

    The manual's retired steps are reported, not done: Azure AD Graph (retired 2025-08-31),
    appinv.aspx (15-16, retired 2026-04-02; replaced by SharePoint Sites.FullControl.All and a
    certificate) and LegacyAuthProtocolsEnabled (17, retired 2026-05-01: Kodo never turns it on,
    so a scheduled re-run leaves a hardened tenant as it is).

    Returns one Kodo.OnboardingResult: TenantId, Status, ClientId, ClientSecret (SecureString,
    only when a secret was created in this run), what changed, the permission rows, the retired
    steps, the audit checks and whether the audit passed.

    Many tenants (MSPs): give -TenantId a list, or pipe objects with a TenantId property (and,
    per tenant, ClientId and ClientSecretCredential or a certificate), e.g. from Import-Csv.
    Kodo signs in to each tenant with the app credential given (a multi-tenant app of yours
    consented in each customer tenant), onboards or audits it, and forgets that sign-in; the
    current Connect-Kodo connection is left as it is. -ThrottleLimit tenants are worked on at
    once; results come in the order given, one per tenant. -WhatIf/-Confirm ask once per tenant.
    One tenant's failure is reported as a non-terminating error and a result with Status Failed
    and the reason; the other tenants go on. (With -ErrorVariable, PowerShell also collects the
    errors Kodo caught inside; the run's own error per failed tenant has the id Kodo.TenantFailed.)

    .PARAMETER DisplayName
    The app registration's display name.

    .PARAMETER Manifest
    Seed (default) or Kodo43.

    .PARAMETER ManifestPath
    Your own manifest file.

    .PARAMETER SkipSharePointSetting
    Obsolete, kept so that existing scripts keep running: Kodo no longer sets
    LegacyAuthProtocolsEnabled (step 17 of KODO's manual is retired: legacy authentication to
    SharePoint is blocked for good since 2026-05-01, MC1184649).

    .PARAMETER Environment
    The cloud: Global (default), USGov, USGovDoD, China, Emulator.

    .PARAMETER TenantId
    The tenants to onboard one after the other (IDs or initial domains). Without it, the current
    connection's tenant, or the managed identity's.

    .PARAMETER ClientSecretCredential
    For -TenantId: the app to sign in to each tenant with (user name = client id, password = secret).

    .PARAMETER ClientId
    For -TenantId with a certificate: the app's client id.

    .PARAMETER CertificatePath
    For -TenantId: the app's certificate file (PFX with -CertificatePassword, or PEM).

    .PARAMETER CertificatePassword
    The PFX password for -CertificatePath.

    .PARAMETER CertificateThumbprint
    For -TenantId: the app's certificate in the certificate store.

    .PARAMETER CredentialType
    The new app's credential: Secret (default: a client secret, what KODO's dialog asks for) or
    Certificate (a new certificate only, no secret: for tenants that forbid secrets and for
    SharePoint app-only access, which accepts only certificates). Certificate needs
    -NewCertificatePassword; the private key comes back only as a password-protected PFX
    (-NewCertificatePath, or on the result). -NewCertificate gives a secret and a certificate.
    With -TenantId: each tenant's app gets a certificate of its own (made when its turn comes,
    after its sign-in), each PFX written into -NewCertificateFolder as Kodo-<directory id>.pfx
    (or kept on its result), all with the one -NewCertificatePassword; an app that already has
    a live certificate keeps it and gets none.

    .PARAMETER NewCertificate
    Give the new app a certificate credential (a new self-signed RSA certificate): needed where
    the tenant's app management policy blocks client secrets, and what SharePoint app-only access
    requires. The private key is returned only as a password-protected PFX
    (-NewCertificatePassword), written to -NewCertificatePath or kept on the result.

    .PARAMETER NewCertificatePassword
    The password of the PFX that holds the new certificate's private key.

    .PARAMETER NewCertificatePath
    Where to write that PFX (readable by its owner only).

    .PARAMETER NewCertificateFolder
    With -TenantId -CredentialType Certificate: the folder (it must exist) for the tenants' PFX
    files, Kodo-<directory id>.pfx each (readable by their owner only); the results and the
    ledger say which. Without it each PFX is on its result (CertificatePfx).

    .PARAMETER NewCertificateStoreLocation
    CurrentUser: put the new certificate and its private key (not exportable) into the current
    user's personal certificate store (Cert:\CurrentUser\My), where Connect-Kodo
    -CertificateThumbprint finds it; no PFX password is then needed unless -NewCertificatePath
    asks for a file too. Windows only (elsewhere .NET would keep the key in a file without a
    password; refused before anything is written).

    .PARAMETER NewCertificateLifetime
    How many days the new certificate is valid (default 365). A tenant's app management policy
    may allow less (asymmetricKeyLifetime); Kodo then stops before writing and says how much.

    .PARAMETER EnableEws
    Where the organization turned Exchange Web Services off (EwsEnabled False), turn it on for
    the apps on its allow list (KODO's included). Without it the result is ManualActionRequired.

    .PARAMETER AllowEwsRestriction
    Where the organization never set EwsEnabled, turn EWS on with an allow list: every application
    not on the list loses EWS. High impact; an explicit -Confirm asks instead. Without either the
    result is ManualActionRequired, with the command to run.

    .PARAMETER MailboxScope
    The object id of an administrative unit: KODO reaches only its members' mailboxes (Exchange
    RBAC for Applications; see Grant-KodoPermissions -MailboxScope). The result's MailboxScope
    says how many mailboxes are in and out of scope, and the audit checks that no tenant-wide
    grant widens it.

    .PARAMETER AppId
    The Kodo app's application (client) id in this tenant, when you know it (e.g. the ClientId of
    an earlier run's result): a scheduled re-run, or -AuditOnly, then reads the tenant in one
    Graph request instead of two. Only a hint: Kodo still finds its app by its tag, uses what it read by this id
    only when it is that app, and otherwise reads as without it (an app deleted or replaced is
    onboarded again as usual). A -TenantId run with -LedgerPath takes each tenant's from the ledger.

    .PARAMETER AuditOnly
    Change nothing: find the Kodo app in each tenant and run Test-KodoApp.

    .PARAMETER ThrottleLimit
    For -TenantId: how many tenants are worked on at once (1-16, default 4). Graph throttles
    each tenant on its own, so while one tenant waits out a Retry-After the others go on.

    .PARAMETER LedgerPath
    For -TenantId: the run's ledger, a JSON Lines file (created when missing). Each tenant's
    state changes are written to it as they happen (planned, inProgress, done, failed with the
    reason and the next action), each flushed to disk before the run goes on. Run the same
    command again after a run died (or stopped): tenants done in the ledger are skipped (no
    sign-in, no request; their result has Status Skipped and when they were done), the others are
    run again (a re-run is safe). Nothing secret is written: only where a new credential went.
    Only one run at a time may use a ledger (Kodo.LedgerLocked). Read it with
    Get-KodoOnboardingStatus. -WhatIf neither reads nor writes it.

    .PARAMETER Recheck
    With -LedgerPath: run the tenants that are done in the ledger again too (e.g. after an admin
    acted on a ManualActionRequired tenant).

    .PARAMETER SecretVault
    For -TenantId: store each new client secret in this Microsoft.PowerShell.SecretManagement
    vault (Set-Secret) as a PSCredential named Kodo-<directory id> (the tenant's GUID, however it
    was given, a name every vault takes, Azure Key Vault included; user name = the app's client
    id), instead of on the result; the result's and the ledger's CredentialLocation say where.
    The vault is checked (Get-SecretVault) before any tenant is signed in to. A vault that
    refuses a secret leaves it on the result, with a Kodo.SecretVaultFailed error.

    .PARAMETER Force
    With -LedgerPath: take over the ledger's lock even when Kodo cannot show that the run holding
    it is gone (a run killed on another machine, or on Windows). A lock whose process is gone
    from this machine is taken over without it.

    .PARAMETER SkipAudit
    Do not run Test-KodoApp after onboarding (AuditPassed is then empty): saves its reads when
    you audit separately.

    .PARAMETER RequestTimeoutSec
    For -TenantId: how long one request to Microsoft 365 may take, answer included, before Kodo
    counts it as unanswered (1 to 3600 seconds; 120 if not given), as Connect-Kodo
    -RequestTimeoutSec sets it for one connection. An unanswered read is sent again; an
    unanswered write is not, and that tenant fails so that a re-run finds what it did.

    .EXAMPLE
    Invoke-KodoOnboarding -CredentialType Certificate -NewCertificatePassword (Read-Host -AsSecureString) -NewCertificatePath ./kodo.pfx

    Onboards with a certificate as the app's only credential (no client secret).

    .EXAMPLE
    Invoke-KodoOnboarding -CredentialType Certificate -NewCertificateStoreLocation CurrentUser

    On Windows: the new certificate goes into Cert:\CurrentUser\My (CertificateStorePath on the result).

    .EXAMPLE
    Invoke-KodoOnboarding -AppId $previous.ClientId -SkipAudit

    A scheduled re-run that knows the Kodo app's id: on a tenant that is right it reads Graph in
    one request and changes nothing.

    .EXAMPLE
    Invoke-KodoOnboarding -DisplayName 'KODO for Cloud backup'

    In a runbook whose Automation account has a managed identity with the Graph roles Kodo needs.

    .EXAMPLE
    Connect-Kodo -TenantId $tenantId -ClientSecretCredential $cred
    Invoke-KodoOnboarding -Manifest Kodo43 | Select-Object ClientId, AuditPassed

    With an existing connection, onboards with KODO 4.3's permission list.

    .EXAMPLE
    Invoke-KodoOnboarding -MailboxScope 4d819ce9-9257-44d7-af20-68a49e6697f4 | Select-Object -ExpandProperty MailboxScope

    Onboards with KODO's mailbox access limited to one administrative unit's members.

    .EXAMPLE
    Import-Csv ./customers.csv | Invoke-KodoOnboarding -ClientSecretCredential $mspApp | Select-Object TenantId, Status, ClientId, AuditPassed, Error | Export-Csv ./onboarding.csv -NoTypeInformation

    An MSP run over every customer tenant in the CSV (column TenantId); one result per tenant.

    .EXAMPLE
    Import-Csv ./customers.csv | Invoke-KodoOnboarding -ClientSecretCredential $mspApp -LedgerPath ./fleet.jsonl

    The same run with a ledger: if it dies at tenant 731, the same command goes on from there and
    skips the tenants already done. Get-KodoOnboardingStatus -LedgerPath ./fleet.jsonl -Summary
    shows where the fleet stands.

    .EXAMPLE
    Import-Csv ./customers.csv | Invoke-KodoOnboarding -ClientSecretCredential $mspApp -LedgerPath ./fleet.jsonl -SecretVault KodoSecrets

    Each new client secret goes to the SecretManagement vault KodoSecrets (Kodo-<directory id>), not
    to the result; the ledger records that place, never the secret.

    .EXAMPLE
    $tenants | Invoke-KodoOnboarding -AuditOnly -ClientId $appId -CertificateThumbprint $tp | Where-Object { -not $_.AuditPassed }

    Audits many tenants and lists the ones whose KODO access is incomplete.

    .OUTPUTS
    Kodo.OnboardingResult
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium', DefaultParameterSetName = 'Current')]
    [OutputType('Kodo.OnboardingResult')]
    param(
        [string]$DisplayName = 'KODO for Cloud backup',
        [ValidateSet('Seed', 'Kodo43')][string]$Manifest = 'Seed',
        [string]$ManifestPath,
        [switch]$SkipSharePointSetting,
        [ValidateSet('Global', 'USGov', 'USGovDoD', 'China', 'Emulator')][string]$Environment = 'Global',

        # An empty entry reaches the library, which checks the whole list and names each bad
        # entry by its number (an Import-Csv row with an empty cell included).
        [Parameter(Mandatory, ValueFromPipeline, ValueFromPipelineByPropertyName, ParameterSetName = 'Tenants')]
        [AllowEmptyString()]
        [string[]]$TenantId,

        [Parameter(ValueFromPipelineByPropertyName, ParameterSetName = 'Tenants')]
        [System.Management.Automation.PSCredential]$ClientSecretCredential,

        [Parameter(ValueFromPipelineByPropertyName, ParameterSetName = 'Tenants')]
        [string]$ClientId,

        [Parameter(ValueFromPipelineByPropertyName, ParameterSetName = 'Tenants')]
        [string]$CertificatePath,

        [Parameter(ParameterSetName = 'Tenants')]
        [System.Security.SecureString]$CertificatePassword,

        [Parameter(ValueFromPipelineByPropertyName, ParameterSetName = 'Tenants')]
        [string]$CertificateThumbprint,

        [Parameter(ParameterSetName = 'Current')]
        [Parameter(ParameterSetName = 'Tenants')]
        [ValidateSet('Secret', 'Certificate')]
        [string]$CredentialType = 'Secret',

        [Parameter(ParameterSetName = 'Current')]
        [switch]$NewCertificate,

        [Parameter(ParameterSetName = 'Current')]
        [Parameter(ParameterSetName = 'Tenants')]
        [System.Security.SecureString]$NewCertificatePassword,

        [Parameter(ParameterSetName = 'Current')]
        [string]$NewCertificatePath,

        [Parameter(ParameterSetName = 'Tenants')]
        [ValidateNotNullOrEmpty()]
        [string]$NewCertificateFolder,

        [Parameter(ParameterSetName = 'Current')]
        [ValidateSet('CurrentUser')]
        [string]$NewCertificateStoreLocation,

        [Parameter(ParameterSetName = 'Current')]
        [Parameter(ParameterSetName = 'Tenants')]
        [ValidateRange(1, 730)]
        [int]$NewCertificateLifetime = 365,

        [switch]$EnableEws,

        [switch]$AllowEwsRestriction,

        [Parameter(ParameterSetName = 'Current')]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$MailboxScope,

        [Parameter(ParameterSetName = 'Current')]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$AppId,

        [switch]$AuditOnly,

        [switch]$SkipAudit,

        [Parameter(ParameterSetName = 'Tenants')]
        [ValidateRange(1, 16)]
        [int]$ThrottleLimit = 4,

        [Parameter(ParameterSetName = 'Tenants')]
        [ValidateNotNullOrEmpty()]
        [string]$LedgerPath,

        [Parameter(ParameterSetName = 'Tenants')]
        [switch]$Recheck,

        [Parameter(ParameterSetName = 'Tenants')]
        [ValidateNotNullOrEmpty()]
        [string]$SecretVault,

        [Parameter(ParameterSetName = 'Tenants')]
        [switch]$Force,

        [Parameter(ParameterSetName = 'Tenants')]
        [ValidateRange(1, 3600)]
        [int]$RequestTimeoutSec
    )

    begin {
        if ($SkipSharePointSetting) {
            Write-Warning '-SkipSharePointSetting is obsolete: Kodo no longer sets LegacyAuthProtocolsEnabled (step 17 is retired since 2026-05-01, MC1184649).'
        }
        if ($AuditOnly -and $SkipAudit) {
            $PSCmdlet.ThrowTerminatingError((New-KodoErrorRecord -ErrorId 'Kodo.InvalidArgument' -Category InvalidArgument -Message '-AuditOnly and -SkipAudit contradict each other.'))
        }
        if (($Recheck -or $Force) -and -not $LedgerPath) {
            $PSCmdlet.ThrowTerminatingError((New-KodoErrorRecord -ErrorId 'Kodo.InvalidArgument' -Category InvalidArgument -Message '-Recheck and -Force go with -LedgerPath.'))
        }
        if ($LedgerPath -and $AuditOnly) {
            $PSCmdlet.ThrowTerminatingError((New-KodoErrorRecord -ErrorId 'Kodo.InvalidArgument' -Category InvalidArgument -Message '-LedgerPath records onboarding; -AuditOnly changes nothing and is not recorded: use them apart.'))
        }
        if ($SecretVault) {
            # Checked before any tenant: a missing module or vault stops the run, nothing done.
            if (-not (Get-Command -Name Set-Secret -ErrorAction SilentlyContinue) -or -not (Get-Command -Name Get-SecretVault -ErrorAction SilentlyContinue)) {
                $PSCmdlet.ThrowTerminatingError((New-KodoErrorRecord -ErrorId 'Kodo.SecretManagementMissing' -Category NotInstalled -TargetObject $SecretVault -Message '-SecretVault needs the Microsoft.PowerShell.SecretManagement module (Set-Secret, Get-SecretVault): Install-Module Microsoft.PowerShell.SecretManagement, and register a vault. Nothing was done.'))
            }
            if (-not (Get-SecretVault -Name $SecretVault -ErrorAction SilentlyContinue)) {
                $PSCmdlet.ThrowTerminatingError((New-KodoErrorRecord -ErrorId 'Kodo.SecretVaultNotFound' -Category ObjectNotFound -TargetObject $SecretVault -Message "No SecretManagement vault named '$SecretVault' is registered (Get-SecretVault). Nothing was done."))
            }
        }
        # The library's working folder is not PowerShell's location: the path goes resolved.
        $ledgerFile = $null
        if ($LedgerPath) { $ledgerFile = $PSCmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($LedgerPath) }
        # What every tenant gets: the one-tenant procedure's request (the current connection's
        # tenant, or each tenant of a -TenantId run).
        $bound = $PSBoundParameters
        function New-KodoOnboardRequest {
            [ordered]@{
                displayName = $DisplayName
                manifest    = (Get-KodoManifest -Name $Manifest -Path $ManifestPath)
                audit       = (-not $SkipAudit)
                auditOnly   = [bool]$AuditOnly
                ews         = (Get-KodoEwsConsent -EnableEws:$EnableEws -AllowEwsRestriction:$AllowEwsRestriction -BoundParameters $bound)
            }
        }
        $entries = New-Object -TypeName System.Collections.Generic.List[object]
        $signers = New-Object -TypeName System.Collections.Generic.List[System.Security.Cryptography.X509Certificates.X509Certificate2]
    }

    process {
        if ($PSCmdlet.ParameterSetName -eq 'Current') {
            try {
                Write-Progress -Activity 'Invoke-KodoOnboarding' -Id 1 -Status 'Signing in' -PercentComplete 5
                $context = Get-KodoContext
                if (-not $context) {
                    if (-not [Environment]::GetEnvironmentVariable('IDENTITY_ENDPOINT')) {
                        throw (New-KodoErrorRecord -ErrorId 'Kodo.AuthenticationFailed' -Category AuthenticationError `
                            -Message 'Not connected, and no managed identity is available (IDENTITY_ENDPOINT is not set). Run Connect-Kodo first, or run this in an Azure Automation account with a managed identity.')
                    }
                    $context = Connect-Kodo -Identity -Environment $Environment
                }
                Write-Verbose "Onboarding tenant $($context.TenantId) as $($context.IdentityKind) $($context.ClientId)"
                # One native operation runs the whole procedure for this tenant (the same one each
                # tenant of a -TenantId run gets): it plans from one read, asks this command's
                # ShouldProcess for each step, carries out the approved ones, then audits.
                $request = New-KodoOnboardRequest
                $request['kind'] = 'onboard'
                $request['approval'] = [ordered]@{ ask = $true }
                if ($MailboxScope) { $request['mailboxScope'] = $MailboxScope }
                if ($AppId) { $request['appIdHint'] = $AppId }
                $generated = $null
                if ($CredentialType -eq 'Certificate') { $request['certificateOnly'] = $true }
                $wantsCertificate = $NewCertificate -or $CredentialType -eq 'Certificate'
                if ($NewCertificateStoreLocation -and -not $wantsCertificate) {
                    throw (New-KodoErrorRecord -ErrorId 'Kodo.InvalidArgument' -Category InvalidArgument -Message '-NewCertificateStoreLocation goes with -CredentialType Certificate or -NewCertificate.')
                }
                # Where the private key goes: a password-protected PFX (a file, or the result),
                # the Windows certificate store, or both.
                $toStore = [bool]$NewCertificateStoreLocation
                $toPfx = $wantsCertificate -and ($NewCertificatePath -or -not $toStore)
                if ($toStore) { Test-KodoCertificateStore }
                if ($toPfx) {
                    $generated = New-KodoPfxCertificate -Subject $DisplayName -Days $NewCertificateLifetime -Password $NewCertificatePassword -PasswordParameter '-NewCertificatePassword'
                } elseif ($toStore) {
                    $generated = New-KodoCertificate -Subject $DisplayName -Days $NewCertificateLifetime
                }
                if ($generated) { $request['certificate'] = [Convert]::ToBase64String($generated.RawData) }
                $r = Invoke-KodoNative -Cmdlet $PSCmdlet -Request $request
                Write-Progress -Activity 'Invoke-KodoOnboarding' -Id 1 -Completed
                # Nothing approved (-WhatIf, or every step declined): no result.
                if (-not $r.appId) { return }
                $result = ConvertFrom-KodoTenantItem -Item $r -Cmdlet $PSCmdlet
                # -AuditOnly: no onboarding part (onboard is null), so nothing was added.
                $added = @(if ($generated -and $r.onboard) { $r.onboard.app.changes | Where-Object { $_ -and $_.id -eq 'addCertificate' } })
                if ($generated -and $added.Count -gt 0) {
                    if ($toStore) { Save-KodoCertificateToStore -Target $result -Certificate $generated }
                    if ($toPfx) {
                        Export-KodoCertificatePfx -Target $result -Certificate $generated -Password $NewCertificatePassword -Path $NewCertificatePath -SessionState $ExecutionContext.SessionState
                    }
                }
                $PSCmdlet.WriteObject($result)
                # Written: the new secret is in the caller's hands, and its mark on the app can go.
                if ($r.onboard -and $r.onboard.app -and $r.onboard.app.PSObject.Properties['confirmSecret']) {
                    Confirm-KodoSecretDelivery -Cmdlet $PSCmdlet -Confirmation $r.onboard.app.confirmSecret
                }
            } catch {
                $PSCmdlet.ThrowTerminatingError($_)
            }
            return
        }

        # Many tenants: collected here, worked on together in end (ThrottleLimit at a time).
        if ($ClientSecretCredential) {
            $credential = [ordered]@{ kind = 'clientSecret'; clientId = $ClientSecretCredential.UserName; secret = $ClientSecretCredential.GetNetworkCredential().Password }
        } elseif ($CertificatePath -or $CertificateThumbprint) {
            try {
                $certificateCredential = Get-KodoCertificateCredential -ClientId $ClientId -CertificateThumbprint $CertificateThumbprint `
                    -CertificatePath $CertificatePath -CertificatePassword $CertificatePassword -SessionState $ExecutionContext.SessionState
            } catch {
                $PSCmdlet.ThrowTerminatingError($_)
            }
            $credential = $certificateCredential.Credential
            if ($certificateCredential.SigningCertificate) { $signers.Add($certificateCredential.SigningCertificate) }
        } else {
            $PSCmdlet.ThrowTerminatingError((New-KodoErrorRecord -ErrorId 'Kodo.NoSignInCredential' -Category InvalidArgument -TargetObject ($TenantId -join ', ') `
                -Message 'For -TenantId, give the app that signs in to each tenant: -ClientSecretCredential, or -ClientId with -CertificatePath or -CertificateThumbprint (a managed identity reaches only its own tenant).'))
        }
        foreach ($tenant in $TenantId) {
            $entries.Add([ordered]@{ tenantId = $tenant; credential = $credential })
        }
    }

    end {
        if ($PSCmdlet.ParameterSetName -ne 'Tenants' -or $entries.Count -eq 0) { return }
        # Where the run's new credentials go; checked before any tenant, so that bad input
        # changes nothing.
        $sink = @{ SecretVault = $SecretVault; Certificates = @{}; CertificateFolder = $null; CertificatePassword = $NewCertificatePassword; CertificateLifetime = $NewCertificateLifetime; Subject = $DisplayName }
        if ($CredentialType -eq 'Certificate') {
            if (-not $NewCertificatePassword -or $NewCertificatePassword.Length -eq 0) {
                $PSCmdlet.ThrowTerminatingError((New-KodoErrorRecord -ErrorId 'Kodo.InvalidArgument' -Category InvalidArgument -Message '-CredentialType Certificate needs -NewCertificatePassword: each private key is only ever handed over as a password-protected PFX. Nothing was done.'))
            }
            if ($SecretVault) {
                $PSCmdlet.ThrowTerminatingError((New-KodoErrorRecord -ErrorId 'Kodo.InvalidArgument' -Category InvalidArgument -Message '-SecretVault takes client secrets, and -CredentialType Certificate makes none: give -NewCertificateFolder for the PFX files. Nothing was done.'))
            }
            if ($NewCertificateFolder) {
                $sink.CertificateFolder = $PSCmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($NewCertificateFolder)
                if (-not [System.IO.Directory]::Exists($sink.CertificateFolder)) {
                    $PSCmdlet.ThrowTerminatingError((New-KodoErrorRecord -ErrorId 'Kodo.InvalidArgument' -Category InvalidArgument -TargetObject $NewCertificateFolder -Message "-NewCertificateFolder '$NewCertificateFolder' is not a folder. Nothing was done."))
                }
            }
        } elseif ($NewCertificateFolder -or $NewCertificatePassword) {
            $PSCmdlet.ThrowTerminatingError((New-KodoErrorRecord -ErrorId 'Kodo.InvalidArgument' -Category InvalidArgument -Message '-NewCertificateFolder and -NewCertificatePassword go with -CredentialType Certificate. Nothing was done.'))
        }
        $approved = New-Object -TypeName System.Collections.Generic.List[object]
        foreach ($entry in $entries) {
            if ($AuditOnly -or $PSCmdlet.ShouldProcess([string]$entry.tenantId, "Onboard for KODO for Cloud backup: app registration, $(if ($CredentialType -eq 'Certificate') { 'certificate' } else { 'secret' }), API permissions, admin consent")) {
                $approved.Add($entry)
            }
        }
        if ($approved.Count -eq 0) { return }
        try {
            $request = [ordered]@{
                kind        = 'onboard.many'
                environment = (Get-KodoEnvironmentSpec -Environment $Environment)
                tenants     = $approved.ToArray()
                onboard     = (New-KodoOnboardRequest)
                concurrency = $ThrottleLimit
            }
            if ($ledgerFile) { $request['ledger'] = [ordered]@{ path = $ledgerFile; recheck = [bool]$Recheck; force = [bool]$Force } }
            if ($RequestTimeoutSec) { $request.environment['requestTimeoutSeconds'] = $RequestTimeoutSec }
            if ($CredentialType -eq 'Certificate') { $request['newCertificates'] = $true }
            # Each tenant's result arrives as it is done and goes straight to the pipeline.
            $r = Invoke-KodoNative -Cmdlet $PSCmdlet -Request $request -SigningCertificate $signers.ToArray() -OnItem ${function:ConvertFrom-KodoTenantItem} -OnItemArgument @($sink) `
                -OnCertificate ${function:New-KodoTenantCertificate}
        } catch {
            $PSCmdlet.ThrowTerminatingError($_)
        } finally {
            # The sign-in secret is in these as plain text: dropped as soon as the library has it.
            $request = $null
            $approved = $null
            $entries = $null
            $credential = $null
            # Certificates made for tenants whose results never came (a failure, a stop): their
            # keys go with them.
            foreach ($c in @($sink.Certificates.Values)) { $c.Dispose() }
            $sink.Certificates.Clear()
        }
        Write-Verbose "$($r.tenants) tenants, $($r.failed) failed, $($r.skipped) skipped (done in the ledger)."
    }
}
