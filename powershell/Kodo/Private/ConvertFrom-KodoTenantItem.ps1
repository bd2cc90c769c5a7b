function ConvertFrom-KodoTenantItem {
    <#
    .SYNOPSIS
    One tenant of an onboard.many run (an 'item' event) as a Kodo.OnboardingResult, preceded by a Kodo.TenantFailed ErrorRecord when it failed.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory, Position = 0)]$Item,
        # Where a new client secret goes: a SecretManagement vault's name (Set-Secret), or
        # nothing (the result's ClientSecret).
        [Parameter(Position = 1)][string]$SecretVault,
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
        foreach ($o in $out) {
            if ($o.PSObject.Properties['ClientSecret'] -and $o.ClientSecret) {
                $location = 'resultObject'
                if ($SecretVault) {
                    # The vault holds it as a PSCredential (user name = client id); the result then
                    # carries only where it is. A vault that refuses it leaves it on the result.
                    # Named by the directory's id (a GUID, as the sign-in named it), however the
                    # tenant was given: Azure Key Vault (Az.KeyVault's vault) takes only letters,
                    # digits and dashes, so 'Kodo-contoso.onmicrosoft.com' would be refused there.
                    $directory = [string]$Item.directoryId
                    $guid = [guid]::Empty
                    $name = if ([guid]::TryParse($directory, [ref]$guid)) { "Kodo-$directory" } else { "Kodo-$tenant" }
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
}
