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
    if ($Item.status -eq 'Skipped') {
        # Done in the ledger: not signed in to, nothing sent (-Recheck runs it again).
        $skip = $Item.skipped
        return [pscustomobject]@{
            PSTypeName      = 'Kodo.OnboardingResult'
            TenantId        = $tenant
            Status          = 'Skipped'
            ClientId        = [string]$Item.appId
            ClientSecret    = $null
            SecretExpiresOn = $null
            Changes         = @()
            Permissions     = @()
            RetiredSteps    = @()
            Ews             = $null
            Audit           = @()
            AuditPassed     = $null
            Error           = $null
            SkipReason      = [string]$skip.reason
            DoneAt          = (ConvertTo-KodoUtcDate $skip.doneAt)
            DoneStatus      = [string]$skip.status
            CredentialLocation = [string]$skip.credentialLocation
            DurationSeconds = [double]0
        }
    }
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
