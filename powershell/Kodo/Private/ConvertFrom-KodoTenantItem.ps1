function ConvertFrom-KodoTenantItem {
    <#
    .SYNOPSIS
    One tenant of an onboard.many run (an 'item' event) as a Kodo.OnboardingResult, preceded by a Kodo.TenantFailed ErrorRecord when it failed.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)]$Item,
        # Where warnings go (an admin must act on EWS).
        [System.Management.Automation.PSCmdlet]$Cmdlet
    )

    $tenant = [string]$Item.tenantId
    if ($Item.status -ne 'Failed') {
        $audit = if ($Item.audit) { $Item.audit } else { $null }
        ConvertTo-KodoOnboardingResult -Onboard $Item.onboard -Audit $audit -TenantId $tenant -ClientId ([string]$Item.appId) `
            -DurationSeconds ([double]$Item.durationSeconds) -Status ([string]$Item.status) -Cmdlet $Cmdlet
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
        Ews             = $null
        Audit           = @()
        AuditPassed     = $false
        Error           = "Kodo.$($Item.error.code): $($Item.error.message)"
        DurationSeconds = [double]$Item.durationSeconds
    }
}
