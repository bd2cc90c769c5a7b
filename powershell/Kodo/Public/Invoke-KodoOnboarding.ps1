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

    Returns one Kodo.OnboardingResult: TenantId, ClientId, ClientSecret (SecureString, only when
    a secret was created in this run), what changed, the permission rows, the audit checks and
    whether the audit passed.

    .PARAMETER DisplayName
    The app registration's display name.

    .PARAMETER Manifest
    Seed (default) or Kodo43.

    .PARAMETER ManifestPath
    Your own manifest file.

    .PARAMETER SkipSharePointSetting
    Do not set LegacyAuthProtocolsEnabled.

    .PARAMETER Environment
    The cloud for the managed-identity sign-in: Global (default), USGov, USGovDoD, China, Emulator.

    .EXAMPLE
    Invoke-KodoOnboarding -DisplayName 'KODO for Cloud backup'

    In a runbook whose Automation account has a managed identity with the Graph roles Kodo needs.

    .EXAMPLE
    Connect-Kodo -TenantId $tenantId -ClientSecretCredential $cred
    Invoke-KodoOnboarding -Manifest Kodo43 | Select-Object ClientId, AuditPassed

    With an existing connection, onboards with KODO 4.3's permission list.

    .OUTPUTS
    Kodo.OnboardingResult
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Kodo.OnboardingResult')]
    param(
        [string]$DisplayName = 'KODO for Cloud backup',
        [ValidateSet('Seed', 'Kodo43')][string]$Manifest = 'Seed',
        [string]$ManifestPath,
        [switch]$SkipSharePointSetting,
        [ValidateSet('Global', 'USGov', 'USGovDoD', 'China', 'Emulator')][string]$Environment = 'Global'
    )

    try {
        $activity = 'Invoke-KodoOnboarding'
        Write-Progress -Activity $activity -Status 'Signing in' -PercentComplete 5
        $context = Get-KodoContext
        if (-not $context) {
            if (-not [Environment]::GetEnvironmentVariable('IDENTITY_ENDPOINT')) {
                throw (New-KodoErrorRecord -ErrorId 'Kodo.AuthenticationFailed' -Category AuthenticationError `
                    -Message 'Not connected, and no managed identity is available (IDENTITY_ENDPOINT is not set). Run Connect-Kodo first, or run this in an Azure Automation account with a managed identity.')
            }
            $context = Connect-Kodo -Identity -Environment $Environment
        }
        Write-Verbose "Onboarding tenant $($context.TenantId) as $($context.IdentityKind) $($context.ClientId)"

        Write-Progress -Activity $activity -Status 'App registration, service principal, credential' -PercentComplete 20
        $app = New-KodoApp -DisplayName $DisplayName
        if (-not $app) { return }

        Write-Progress -Activity $activity -Status 'API permissions and admin consent' -PercentComplete 45
        $grantParameters = @{ InputObject = $app; Manifest = $Manifest }
        if ($ManifestPath) { $grantParameters['ManifestPath'] = $ManifestPath }
        $rows = @(Grant-KodoPermissions @grantParameters)

        $spo = $null
        if (-not $SkipSharePointSetting) {
            Write-Progress -Activity $activity -Status 'SharePoint: LegacyAuthProtocolsEnabled' -PercentComplete 70
            $spo = Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $true
        }

        Write-Progress -Activity $activity -Status 'Audit' -PercentComplete 85
        $testParameters = @{ AppId = $app.ClientId; Manifest = $Manifest; Detailed = $true }
        if ($ManifestPath) { $testParameters['ManifestPath'] = $ManifestPath }
        $audit = @(Test-KodoApp @testParameters)
        $summary = $audit | Where-Object { $_.PSTypeNames -contains 'Kodo.AppTestSummary' }
        Write-Progress -Activity $activity -Completed

        $changes = @($app.Changes) + @($rows | Where-Object Status -eq 'Granted' | ForEach-Object { "Granted $($_.Api) $($_.Permission) ($($_.Type))" })
        if ($spo -and $spo.Changed) { $changes += 'Set LegacyAuthProtocolsEnabled to True' }
        if ($changes.Count -eq 0) { Write-Verbose 'The tenant was already onboarded: nothing changed.' }
        [pscustomobject]@{
            PSTypeName      = 'Kodo.OnboardingResult'
            TenantId        = $app.TenantId
            ClientId        = $app.ClientId
            ClientSecret    = $app.ClientSecret
            SecretExpiresOn = $app.SecretExpiresOn
            Changes         = $changes
            Permissions     = $rows
            SharePoint      = $spo
            Audit           = @($audit | Where-Object { $_.PSTypeNames -contains 'Kodo.AppCheck' })
            AuditPassed     = [bool]$summary.Passed
        }
    } catch {
        $PSCmdlet.ThrowTerminatingError($_)
    }
}
