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
    $manifestObject = Get-KodoManifest -Name $Manifest -Path $ManifestPath
    $onboard = $null
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
            manifest    = $manifestObject
            sharePoint  = (-not $SkipSharePointSetting)
            askApproval = $true
        }
        $onboard = Invoke-KodoNative -Cmdlet $PSCmdlet -Request $request
        if (-not $onboard.app -or -not $onboard.app.app) { return }
        $clientId = [string]$onboard.app.app.appId
    }

    $audit = $null
    if (-not $SkipAudit) {
        Write-Progress @progress -Status 'Audit' -PercentComplete 85
        $audit = Invoke-KodoNative -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'app.test'; appId = $clientId; manifest = $manifestObject })
    }
    Write-Progress @progress -Completed
    ConvertTo-KodoOnboardingResult -Onboard $onboard -Audit $audit -TenantId ([string]$context.TenantId) -ClientId $clientId `
        -DurationSeconds ([math]::Round(([DateTime]::UtcNow - $started).TotalSeconds, 2))
}
