function Invoke-KodoOnboarding {
    <#
    .SYNOPSIS
    The whole KODO procedure in one idempotent call, for runbooks: connect, app, credentials, permissions, consent, SharePoint setting, audit.

    .DESCRIPTION
    For Azure Automation and other unattended runs: no prompts, objects only, progress a job
    log can show. Signs in with the managed identity when IDENTITY_ENDPOINT is set and no
    connection exists yet (or uses the current Connect-Kodo connection); ensures the Kodo app,
    its service principal and a credential (New-KodoApp), every permission of the manifest and
    admin consent (Grant-KodoPermissions), LegacyAuthProtocolsEnabled (Set-KodoSharePointTenant),
    then audits the result (Test-KodoApp). Running it again changes nothing.

    Returns one Kodo.OnboardingResult: TenantId, Status, ClientId, ClientSecret (SecureString,
    only when a secret was created in this run), what changed, the permission rows, the audit
    checks and whether the audit passed.

    Many tenants (MSPs): give -TenantId a list, or pipe objects with a TenantId property (and,
    per tenant, ClientId and ClientSecretCredential or a certificate), e.g. from Import-Csv.
    Kodo signs in to each tenant in turn with the app credential given (a multi-tenant app of
    yours consented in each customer tenant), onboards or audits it, and disconnects. One
    tenant's failure is reported as a non-terminating error and a result with Status Failed
    and the reason; the other tenants go on. (With -ErrorVariable, PowerShell also collects the
    errors Kodo caught inside; the run's own error per failed tenant has the id Kodo.TenantFailed.)

    .PARAMETER DisplayName
    The app registration's display name.

    .PARAMETER Manifest
    Seed (default) or Kodo43.

    .PARAMETER ManifestPath
    Your own manifest file.

    .PARAMETER SkipSharePointSetting
    Do not set LegacyAuthProtocolsEnabled.

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

    .PARAMETER AuditOnly
    Change nothing: find the Kodo app in each tenant and run Test-KodoApp.

    .PARAMETER SkipAudit
    Do not run Test-KodoApp after onboarding (AuditPassed is then empty): saves its reads when
    you audit separately.

    .EXAMPLE
    Invoke-KodoOnboarding -DisplayName 'KODO for Cloud backup'

    In a runbook whose Automation account has a managed identity with the Graph roles Kodo needs.

    .EXAMPLE
    Connect-Kodo -TenantId $tenantId -ClientSecretCredential $cred
    Invoke-KodoOnboarding -Manifest Kodo43 | Select-Object ClientId, AuditPassed

    With an existing connection, onboards with KODO 4.3's permission list.

    .EXAMPLE
    Import-Csv ./customers.csv | Invoke-KodoOnboarding -ClientSecretCredential $mspApp | Export-Csv ./onboarding.csv

    An MSP run over every customer tenant in the CSV (column TenantId); one result per tenant.

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

        [Parameter(Mandatory, ValueFromPipeline, ValueFromPipelineByPropertyName, ParameterSetName = 'Tenants')]
        [ValidateNotNullOrEmpty()]
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

        [switch]$AuditOnly,

        [switch]$SkipAudit
    )

    begin {
        if ($AuditOnly -and $SkipAudit) {
            $PSCmdlet.ThrowTerminatingError((New-KodoErrorRecord -ErrorId 'Kodo.InvalidArgument' -Category InvalidArgument -Message '-AuditOnly and -SkipAudit contradict each other.'))
        }
        $work = @{ DisplayName = $DisplayName; Manifest = $Manifest; SkipSharePointSetting = $SkipSharePointSetting; AuditOnly = $AuditOnly; SkipAudit = $SkipAudit }
        if ($ManifestPath) { $work['ManifestPath'] = $ManifestPath }
        $done = 0
        $failed = 0
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
                Invoke-KodoTenantOnboarding @work -ParentProgressId 0
            } catch {
                $PSCmdlet.ThrowTerminatingError($_)
            }
            return
        }

        $connect = @{ Environment = $Environment }
        if ($ClientSecretCredential) {
            $connect['ClientSecretCredential'] = $ClientSecretCredential
        } elseif ($CertificatePath -or $CertificateThumbprint) {
            $connect['ClientId'] = $ClientId
            if ($CertificatePath) { $connect['CertificatePath'] = $CertificatePath; if ($CertificatePassword) { $connect['CertificatePassword'] = $CertificatePassword } }
            else { $connect['CertificateThumbprint'] = $CertificateThumbprint }
        } else {
            $PSCmdlet.ThrowTerminatingError((New-KodoErrorRecord -ErrorId 'Kodo.NoSignInCredential' -Category InvalidArgument -TargetObject ($TenantId -join ', ') `
                -Message 'For -TenantId, give the app that signs in to each tenant: -ClientSecretCredential, or -ClientId with -CertificatePath or -CertificateThumbprint (a managed identity reaches only its own tenant).'))
        }
        foreach ($tenant in $TenantId) {
            $done++
            Write-Progress -Activity 'Invoke-KodoOnboarding' -Id 0 -Status "Tenant $done`: $tenant ($failed failed so far)"
            $started = [DateTime]::UtcNow
            try {
                $null = Connect-Kodo @connect -TenantId $tenant -ErrorAction Stop
                Invoke-KodoTenantOnboarding @work -Activity "Tenant $tenant" -ParentProgressId 0 -ErrorAction Stop
            } catch {
                $failed++
                $record = $_
                $PSCmdlet.WriteError((New-KodoErrorRecord -ErrorId 'Kodo.TenantFailed' -Category $record.CategoryInfo.Category -TargetObject $tenant `
                    -Message "Tenant ${tenant}: $($record.Exception.Message)"))
                [pscustomobject]@{
                    PSTypeName      = 'Kodo.OnboardingResult'
                    TenantId        = $tenant
                    Status          = 'Failed'
                    ClientId        = $null
                    ClientSecret    = $null
                    SecretExpiresOn = $null
                    Changes         = @()
                    Permissions     = @()
                    SharePoint      = $null
                    Audit           = @()
                    AuditPassed     = $false
                    Error           = "$($record.FullyQualifiedErrorId): $($record.Exception.Message)"
                    DurationSeconds = [math]::Round(([DateTime]::UtcNow - $started).TotalSeconds, 2)
                }
            } finally {
                $null = Disconnect-Kodo
            }
        }
    }

    end {
        if ($PSCmdlet.ParameterSetName -eq 'Tenants') {
            Write-Progress -Activity 'Invoke-KodoOnboarding' -Id 0 -Completed
            Write-Verbose "$done tenants, $failed failed."
        }
    }
}
