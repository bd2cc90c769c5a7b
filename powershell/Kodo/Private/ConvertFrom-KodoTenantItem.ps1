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
    # A new credential's name in a vault or folder: the directory's id (a GUID, as the sign-in
    # named it), however the tenant was given: Azure Key Vault (Az.KeyVault's vault) takes only
    # letters, digits and dashes, so 'Kodo-contoso.onmicrosoft.com' would be refused there.
    $directory = if ($Item.PSObject.Properties['directoryId']) { [string]$Item.directoryId } else { '' }
    $guid = [guid]::Empty
    $name = if ([guid]::TryParse($directory, [ref]$guid)) { "Kodo-$directory" } else { "Kodo-$tenant" }
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
            foreach ($o in $out) {
                if ($certificateAdded -and $o -isnot [System.Management.Automation.ErrorRecord]) {
                    # The app got this tenant's certificate: its key goes to the admin as a PFX.
                    $location = 'resultObject'
                    $path = $null
                    if ($Sink.CertificateFolder) { $path = [System.IO.Path]::Combine([string]$Sink.CertificateFolder, "$name.pfx") }
                    try {
                        Export-KodoCertificatePfx -Target $o -Certificate $generated -Password $Sink.CertificatePassword -Path $path -SessionState $ExecutionContext.SessionState
                        if ($path) { $location = "PFX file '$path'" }
                    } catch {
                        # Not written: the PFX's bytes stay on the result, so the admin still holds it.
                        Export-KodoCertificatePfx -Target $o -Certificate $generated -Password $Sink.CertificatePassword -SessionState $ExecutionContext.SessionState
                        New-KodoErrorRecord -ErrorId 'Kodo.CertificateNotSaved' -Category WriteError -TargetObject $tenant `
                            -Message "Tenant ${tenant}: the new certificate's PFX could not be written to '$path' ($($_.Exception.Message)); it is on the result (CertificatePfx) instead."
                    }
                    Add-Member -InputObject $o -NotePropertyName CredentialLocation -NotePropertyValue $location -Force
                }
                if ($o.PSObject.Properties['ClientSecret'] -and $o.ClientSecret) {
                    $location = 'resultObject'
                    if ($Sink -and $Sink.SecretVault) {
                        $SecretVault = [string]$Sink.SecretVault
                        # The vault holds it as a PSCredential (user name = client id); the result then
                        # carries only where it is. A vault that refuses it leaves it on the result.
                        try {
                            $credential = New-Object -TypeName System.Management.Automation.PSCredential -ArgumentList @([string]$o.ClientId, $o.ClientSecret)
                            Set-Secret -Name $name -Secret $credential -Vault $SecretVault -ErrorAction Stop -WhatIf:$false -Confirm:$false
                            $o.ClientSecret = $null
                            $location = "SecretManagement vault '$SecretVault', secret '$name'"
                        } catch {
                            New-KodoErrorRecord -ErrorId 'Kodo.SecretVaultFailed' -Category WriteError -TargetObject $tenant `
                                -Message "Tenant ${tenant}: the new client secret could not be stored in the vault '$SecretVault' as '$name' ($($_.Exception.Message)); it is on the result (ClientSecret) instead."
                        }
                    }
                    Add-Member -InputObject $o -NotePropertyName CredentialLocation -NotePropertyValue $location
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
