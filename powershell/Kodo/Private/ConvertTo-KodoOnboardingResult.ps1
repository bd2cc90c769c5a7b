function ConvertTo-KodoOnboardingResult {
    <#
    .SYNOPSIS
    Builds a Kodo.OnboardingResult from a native onboard result and an app.test result (either may be absent).
    #>
    [CmdletBinding()]
    [OutputType('Kodo.OnboardingResult')]
    param(
        [AllowNull()]$Onboard,
        [AllowNull()]$Audit,
        [Parameter(Mandatory)][string]$TenantId,
        [string]$ClientId,
        [double]$DurationSeconds
    )

    $app = $null
    $rows = @()
    $spo = $null
    $changes = @()
    if ($Onboard -and $Onboard.app -and $Onboard.app.app) {
        $app = ConvertTo-KodoApp -Result $Onboard.app
        $ClientId = $app.ClientId
        if ($app.TenantId) { $TenantId = $app.TenantId }
        $rows = @(ConvertTo-KodoPermissionResult -Rows $Onboard.permissions.rows -AppId $ClientId)
        if ($Onboard.sharePoint) { $spo = ConvertTo-KodoSharePointTenant -Result $Onboard.sharePoint }
        $changes = @($app.Changes) + @($rows | Where-Object Status -eq 'Granted' | ForEach-Object { "Granted $($_.Api) $($_.Permission) ($($_.Type))" })
        if ($spo -and $spo.Changed) { $changes += 'Set LegacyAuthProtocolsEnabled to True' }
        if ($changes.Count -eq 0) { Write-Verbose "Tenant $TenantId was already onboarded: nothing changed." }
    }
    $checks = @()
    $passed = $null
    if ($Audit) {
        $all = @(ConvertTo-KodoAppCheck -Result $Audit -AppId $ClientId -Detailed)
        $checks = @($all | Where-Object { $_.PSTypeNames -contains 'Kodo.AppCheck' })
        $passed = [bool]($all | Where-Object { $_.PSTypeNames -contains 'Kodo.AppTestSummary' }).Passed
    }
    [pscustomobject]@{
        PSTypeName      = 'Kodo.OnboardingResult'
        TenantId        = $TenantId
        Status          = 'Succeeded'
        ClientId        = $ClientId
        ClientSecret    = $(if ($app) { $app.ClientSecret } else { $null })
        SecretExpiresOn = $(if ($app) { $app.SecretExpiresOn } else { $null })
        Changes         = $changes
        Permissions     = $rows
        SharePoint      = $spo
        Audit           = $checks
        AuditPassed     = $passed
        Error           = $null
        DurationSeconds = $DurationSeconds
    }
}
