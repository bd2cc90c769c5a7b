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
        [switch]$SkipAudit,
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
        Write-Progress @progress -Status 'App registration, credential, permissions, consent, SharePoint setting' -PercentComplete 20
        # One native operation plans the whole procedure from one read of the tenant, asks this
        # command's ShouldProcess for each step, and carries out the approved ones in as few
        # round trips as Graph allows.
        $request = [ordered]@{
            kind        = 'onboard'
            displayName = $DisplayName
            manifest    = (Get-KodoManifest -Name $Manifest -Path $ManifestPath)
            sharePoint  = (-not $SkipSharePointSetting)
            askApproval = $true
        }
        $r = Invoke-KodoNative -Cmdlet $PSCmdlet -Request $request
        if (-not $r.app -or -not $r.app.app) { return }
        $app = ConvertTo-KodoApp -Result $r.app
        $clientId = $app.ClientId
        $secret = $app.ClientSecret
        $secretExpires = $app.SecretExpiresOn
        $rows = @(ConvertTo-KodoPermissionResult -Rows $r.permissions.rows -AppId $clientId)
        if ($r.sharePoint) { $spo = ConvertTo-KodoSharePointTenant -Result $r.sharePoint }
        $changes = @($app.Changes) + @($rows | Where-Object Status -eq 'Granted' | ForEach-Object { "Granted $($_.Api) $($_.Permission) ($($_.Type))" })
        if ($spo -and $spo.Changed) { $changes += 'Set LegacyAuthProtocolsEnabled to True' }
        if ($changes.Count -eq 0) { Write-Verbose "Tenant $($context.TenantId) was already onboarded: nothing changed." }
    }

    $audit = @()
    $passed = $null
    if (-not $SkipAudit) {
        Write-Progress @progress -Status 'Audit' -PercentComplete 85
        $testParameters = @{ AppId = $clientId; Manifest = $Manifest; Detailed = $true }
        if ($ManifestPath) { $testParameters['ManifestPath'] = $ManifestPath }
        $audit = @(Test-KodoApp @testParameters)
        $passed = [bool]($audit | Where-Object { $_.PSTypeNames -contains 'Kodo.AppTestSummary' }).Passed
    }
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
        AuditPassed     = $passed
        Error           = $null
        DurationSeconds = [math]::Round(([DateTime]::UtcNow - $started).TotalSeconds, 2)
    }
}
