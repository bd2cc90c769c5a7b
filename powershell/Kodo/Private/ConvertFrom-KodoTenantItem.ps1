function ConvertFrom-KodoTenantItem {
    <#
    .SYNOPSIS
    One tenant of an onboard.many run (an 'item' event) as a Kodo.OnboardingResult, preceded by a Kodo.TenantFailed ErrorRecord when it failed.
    #>
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0)]$Item)

    $tenant = [string]$Item.tenantId
    if ($Item.status -eq 'Succeeded') {
        $audit = if ($Item.audit) { $Item.audit } else { $null }
        ConvertTo-KodoOnboardingResult -Onboard $Item.onboard -Audit $audit -TenantId $tenant -ClientId ([string]$Item.appId) -DurationSeconds ([double]$Item.durationSeconds)
        return
    }
    $category = [System.Management.Automation.ErrorCategory]::NotSpecified
    $null = [Enum]::TryParse([string]$Item.error.category, [ref]$category)
    New-KodoErrorRecord -ErrorId 'Kodo.TenantFailed' -Category $category -TargetObject $tenant -Message "Tenant ${tenant}: $($Item.error.message)"
    [pscustomobject]@{
        PSTypeName      = 'Kodo.OnboardingResult'
        TenantId        = $tenant
        Status          = 'Failed'
        ClientId        = $null
        ClientSecret    = $null
        SecretExpiresOn = $null
        Changes         = @()
        Permissions     = @()
        RetiredSteps    = @()
        Audit           = @()
        AuditPassed     = $false
        Error           = "Kodo.$($Item.error.code): $($Item.error.message)"
        DurationSeconds = [double]$Item.durationSeconds
    }
}
