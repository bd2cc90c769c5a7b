function ConvertFrom-KodoTenantItem {
    <#
    .SYNOPSIS
    One tenant of an onboard.many run (an 'item' event) as a Kodo.OnboardingResult, preceded by a Kodo.TenantFailed ErrorRecord when it failed.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)]$Item,
        # Where a new credential goes (Invoke-KodoOnboarding -TenantId): SecretVault, a
        # SecretManagement vault's name for client secrets (else the result's ClientSecret);
        # Certificates, the certificates made for the run's tenants (New-KodoTenantCertificate),
        # by tenant, each handed over as a PFX with CertificatePassword, into CertificateFolder
        # (else on the result).
        [Parameter(Position = 1)][System.Collections.IDictionary]$Sink,
        # Where warnings go (an admin must act on EWS).
        [System.Management.Automation.PSCmdlet]$Cmdlet
    )

    # The fields of a result that carries no onboarding (a tenant skipped or failed).
    function New-BareResult([string]$TenantId, [string]$Status) {
        [ordered]@{
            PSTypeName = 'Kodo.OnboardingResult'; TenantId = $TenantId; Status = $Status; ClientId = $null
            ClientSecret = $null; SecretExpiresOn = $null; Changes = @(); Permissions = @(); RetiredSteps = @()
            Ews = $null; Audit = @(); AuditPassed = $null; Error = $null
        }
    }

    $tenant = [string]$Item.tenantId
    # The certificate made for this tenant, if any: taken out of the sink whatever happened.
    $generated = $null
    if ($Sink -and $Sink.Certificates -and $Sink.Certificates.Contains($tenant)) {
        $generated = $Sink.Certificates[$tenant]
        $Sink.Certificates.Remove($tenant)
    }
    try {
        if ($Item.status -eq 'Skipped') {
            # Done in the ledger: not signed in to, nothing sent (-Recheck runs it again).
            $skip = $Item.skipped
            $r = New-BareResult $tenant 'Skipped'
            $r.ClientId = [string]$Item.appId
            $r.SkipReason = [string]$skip.reason
            $r.DoneAt = (ConvertTo-KodoUtcDate $skip.doneAt)
            $r.DoneStatus = [string]$skip.status
            $r.CredentialLocation = [string]$skip.credentialLocation
            $r.DurationSeconds = [double]0
            return [pscustomobject]$r
        }
        if ($Item.status -ne 'Failed') {
            $audit = if ($Item.audit) { $Item.audit } else { $null }
            $out = @(ConvertTo-KodoOnboardingResult -Onboard $Item.onboard -Audit $audit -TenantId $tenant -ClientId ([string]$Item.appId) `
                    -DurationSeconds ([double]$Item.durationSeconds) -Status ([string]$Item.status) -Cmdlet $Cmdlet)
            $certificateAdded = $false
            if ($generated -and $Item.onboard -and $Item.onboard.app) {
                foreach ($change in @($Item.onboard.app.changes)) { if ($change -and $change.id -eq 'addCertificate') { $certificateAdded = $true } }
            }
            $directory = if ($Item.PSObject.Properties['directoryId']) { [string]$Item.directoryId } else { '' }
            foreach ($o in $out) {
                # A new secret or certificate goes where the admin chose (an ErrorRecord if refused);
                # a result with neither (a re-run) calls nothing more.
                if ($o -isnot [System.Management.Automation.ErrorRecord] -and ($certificateAdded -or ($o.PSObject.Properties['ClientSecret'] -and $o.ClientSecret))) {
                    Save-KodoTenantCredential -Result $o -TenantId $tenant -DirectoryId $directory -Sink $Sink -Certificate $(if ($certificateAdded) { $generated } else { $null })
                }
                $o
            }
            return
        }
        $category = [System.Management.Automation.ErrorCategory]::NotSpecified
        $null = [Enum]::TryParse([string]$Item.error.category, [ref]$category)
        New-KodoErrorRecord -ErrorId 'Kodo.TenantFailed' -Category $category -TargetObject $tenant -Message "Tenant ${tenant}: $($Item.error.message)"
        $r = New-BareResult $tenant 'Failed'
        $r.AuditPassed = $false
        $r.Error = "Kodo.$($Item.error.code): $($Item.error.message)"
        $r.DurationSeconds = [double]$Item.durationSeconds
        [pscustomobject]$r
    } finally {
        # Its key is in the PFX now, or was never used.
        if ($generated) { $generated.Dispose() }
    }
}
