function Invoke-KodoTenantOnboarding {
    <#
    .SYNOPSIS
    One tenant's onboarding (or audit) over the current connection; Invoke-KodoOnboarding's body.
    .DESCRIPTION
    Errors are thrown to the caller, which decides whether they end the run (one tenant) or
    only that tenant's result (many tenants).
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    param(
        [Parameter(Mandatory)][string]$DisplayName,
        [string]$Manifest = 'Seed',
        [string]$ManifestPath,
        [switch]$SkipSharePointSetting,
        [switch]$AuditOnly,
        [string]$Activity = 'Invoke-KodoOnboarding',
        [int]$ParentProgressId = -1
    )

    $progress = @{ Activity = $Activity; Id = $ParentProgressId + 1 }
    if ($ParentProgressId -ge 0) { $progress['ParentId'] = $ParentProgressId }
    $started = [DateTime]::UtcNow
    $context = Get-KodoContext
    $changes = @()
    $rows = @()
    $spo = $null
    $secret = $null
    $secretExpires = $null
    if ($AuditOnly) {
        Write-Progress @progress -Status 'Finding the Kodo app' -PercentComplete 20
        # A dry run of New-KodoApp's request: finds the app (Kodo's tag, then the display name)
        # and writes nothing.
        $found = Invoke-KodoNative -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'app.ensure'; displayName = $DisplayName; dryRun = $true })
        if (-not $found.app) {
            throw (New-KodoErrorRecord -ErrorId 'Kodo.NotFound' -Category ObjectNotFound -TargetObject $context.TenantId `
                -Message "Tenant $($context.TenantId) has no Kodo app (tagged KodoManaged or named '$DisplayName'): it is not onboarded.")
        }
        $clientId = [string]$found.app.appId
    } else {
        Write-Progress @progress -Status 'App registration, service principal, credential' -PercentComplete 20
        $app = New-KodoApp -DisplayName $DisplayName
        if (-not $app) { return }
        $clientId = $app.ClientId
        $secret = $app.ClientSecret
        $secretExpires = $app.SecretExpiresOn

        Write-Progress @progress -Status 'API permissions and admin consent' -PercentComplete 45
        $grantParameters = @{ InputObject = $app; Manifest = $Manifest }
        if ($ManifestPath) { $grantParameters['ManifestPath'] = $ManifestPath }
        $rows = @(Grant-KodoPermissions @grantParameters)

        if (-not $SkipSharePointSetting) {
            Write-Progress @progress -Status 'SharePoint: LegacyAuthProtocolsEnabled' -PercentComplete 70
            $spo = Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $true
        }
        $changes = @($app.Changes) + @($rows | Where-Object Status -eq 'Granted' | ForEach-Object { "Granted $($_.Api) $($_.Permission) ($($_.Type))" })
        if ($spo -and $spo.Changed) { $changes += 'Set LegacyAuthProtocolsEnabled to True' }
        if ($changes.Count -eq 0) { Write-Verbose "Tenant $($context.TenantId) was already onboarded: nothing changed." }
    }

    Write-Progress @progress -Status 'Audit' -PercentComplete 85
    $testParameters = @{ AppId = $clientId; Manifest = $Manifest; Detailed = $true }
    if ($ManifestPath) { $testParameters['ManifestPath'] = $ManifestPath }
    $audit = @(Test-KodoApp @testParameters)
    $summary = $audit | Where-Object { $_.PSTypeNames -contains 'Kodo.AppTestSummary' }
    Write-Progress @progress -Completed

    [pscustomobject]@{
        PSTypeName      = 'Kodo.OnboardingResult'
        TenantId        = [string]$context.TenantId
        Status          = 'Succeeded'
        ClientId        = $clientId
        ClientSecret    = $secret
        SecretExpiresOn = $secretExpires
        Changes         = $changes
        Permissions     = $rows
        SharePoint      = $spo
        Audit           = @($audit | Where-Object { $_.PSTypeNames -contains 'Kodo.AppCheck' })
        AuditPassed     = [bool]$summary.Passed
        Error           = $null
        DurationSeconds = [math]::Round(([DateTime]::UtcNow - $started).TotalSeconds, 2)
    }
}
