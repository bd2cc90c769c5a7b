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
        [double]$DurationSeconds,
        [string]$Status = 'Succeeded',
        [System.Management.Automation.PSCmdlet]$Cmdlet
    )

    $app = $null
    $ews = $null
    $scope = $null
    $rows = @()
    $retired = @()
    $changes = @()
    if ($Onboard -and $Onboard.PSObject.Properties['retired']) {
        # The manual's steps that no longer work as written: reported with their dates, not done.
        $retired = @(foreach ($s in $Onboard.retired) {
            if ($s) { [pscustomobject]@{ PSTypeName = 'Kodo.RetiredStep'; Step = [string]$s.step; What = [string]$s.what; Since = [string]$s.since; Replacement = [string]$s.replacement; Source = [string]$s.source } }
        })
    }
    if ($Onboard -and $Onboard.app -and $Onboard.app.app) {
        $app = ConvertTo-KodoApp -Result $Onboard.app
        $ClientId = $app.ClientId
        if ($app.TenantId) { $TenantId = $app.TenantId }
        $rows = @(ConvertTo-KodoPermissionResult -Rows $Onboard.permissions.rows -AppId $ClientId)
        $changes = @($app.Changes) + @(foreach ($row in $rows) { if ($row.Status -eq 'Granted') { "Granted $($row.Api) $($row.Permission) ($($row.Type))" } })
        if ($Onboard.PSObject.Properties['ews'] -and $Onboard.ews) {
            $ews = ConvertTo-KodoEwsAccess -Result $Onboard.ews -Cmdlet $Cmdlet
            if ($ews.Status -eq 'Configured') { $changes += "Added the app to the EWS allow list (effective by $($ews.EffectiveBy.ToString('u')))" }
        }
        if ($Onboard.permissions.PSObject.Properties['mailboxScope'] -and $Onboard.permissions.mailboxScope) {
            $scope = ConvertTo-KodoMailboxScope -Result $Onboard.permissions.mailboxScope -AppId $ClientId
            $changes += @(foreach ($role in $scope.Roles) { if ($role.Status -eq 'Granted') { "Assigned Exchange role '$($role.Role)' scoped to administrative unit $($scope.AdministrativeUnit)" } })
        }
        if ($changes.Count -eq 0) { Write-Verbose "Tenant $TenantId was already onboarded: nothing changed." }
    }
    $checks = @()
    $passed = $null
    if ($Audit) {
        $verdict = ConvertTo-KodoAppCheck -Result $Audit -AppId $ClientId -Detailed
        $checks = $verdict.Checks
        $passed = $verdict.Summary.Passed
    }
    [pscustomobject]@{
        PSTypeName      = 'Kodo.OnboardingResult'
        TenantId        = $TenantId
        Status          = $Status
        ClientId        = $ClientId
        ClientSecret    = $(if ($app) { $app.ClientSecret } else { $null })
        SecretExpiresOn = $(if ($app) { $app.SecretExpiresOn } else { $null })
        Changes         = $changes
        Permissions     = $rows
        Ews             = $ews
        MailboxScope    = $scope
        # The credential KODO signs in with, as the tenant's policy allowed it.
        CredentialType  = $(if ($app -and $app.ClientSecret) { 'ClientSecret' } elseif ($app -and $app.CertificateThumbprint) { 'Certificate' } else { $null })
        CredentialNote  = $(if ($app) { $app.CredentialNote } else { $null })
        RetiredSteps    = $retired
        Audit           = $checks
        AuditPassed     = $passed
        Error           = $null
        DurationSeconds = $DurationSeconds
    }
}
