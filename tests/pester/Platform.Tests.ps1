# The platform as it is in late 2026 (facts.md section 8), against the tenant emulator: the
# Exchange Web Services allow list (each state of an organization), the retired
# LegacyAuthProtocolsEnabled, and app management policies that block or cap client secrets.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $script:ManifestPath -Force
    $emu = Start-KodoEmulator -Tenants 8
    function Set-Exchange($Tenant, [hashtable]$Settings) { $null = Invoke-Control PATCH "tenants/$($Tenant.TenantId)/exchange" $Settings }
    function Get-Allowed($Tenant) { @(([string](Get-Exchange $Tenant).ewsAllowedAppIDs) -split ',' | Where-Object { $_ }) }
}

AfterAll {
    Stop-KodoEmulator
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'Exchange Web Services: the allow list' {
    It 'on an allow list holding two other apps, onboarding leaves three listed; the live probe succeeds once Exchange applies it; the audit passes' {
        $t = Connect-Tenant 0
        $before = Get-Allowed $t
        $before.Count | Should -Be 2
        $null = Invoke-Control PATCH settings @{ ewsPropagationMs = 4000 }
        try {
            $r = Invoke-KodoOnboarding -Environment Emulator -Confirm:$false
            $r.Status | Should -Be 'Succeeded'
            $r.AuditPassed | Should -BeTrue -Because (($r.Audit | Where-Object Status -eq 'Fail' | ForEach-Object { "$($_.Check): $($_.Detail)" }) -join '; ')
            $r.Ews.Status | Should -Be 'Configured'
            $r.Ews.EffectiveBy | Should -BeGreaterThan ([datetime]::UtcNow.AddHours(23))
            $r.Ews.EwsEndsOn | Should -Be '2027-04-01'
            $after = Get-Allowed $t
            $after.Count | Should -Be 3
            foreach ($id in $before) { $after | Should -Contain $id }
            $after | Should -Contain $r.ClientId
            # Right away: configured, not yet effective (Exchange's propagation).
            $mailbox = "admin@$($t.InitialDomain)"
            $probe = @(Test-KodoApp -AppId $r.ClientId -ClientSecret $r.ClientSecret -EwsMailbox $mailbox -Detailed) | Where-Object Check -like 'Call Exchange Web Services*'
            $probe.Status | Should -Be 'Warn'
            $probe.Detail | Should -Match 'Configured, not yet effective'
            Start-Sleep -Seconds 5
            $probe = @(Test-KodoApp -AppId $r.ClientId -ClientSecret $r.ClientSecret -EwsMailbox $mailbox -Detailed) | Where-Object Check -like 'Call Exchange Web Services*'
            $probe.Status | Should -Be 'Pass'
        } finally {
            $null = Invoke-Control PATCH settings @{ ewsPropagationMs = 0 }
        }
        # A scheduled re-run changes nothing, and says so.
        $again = Invoke-KodoOnboarding -Environment Emulator -Confirm:$false
        $again.Changes | Should -BeNullOrEmpty
        $again.Ews.Status | Should -Be 'AlreadyAllowed'
        (Get-Allowed $t).Count | Should -Be 3
    }

    It 'where EWS was never set, the default run is not green and names the command; with -AllowEwsRestriction it is green and EWS works' {
        $t = Connect-Tenant 1
        Set-Exchange $t @{ ewsEnabled = $null; ewsAllowedAppIDs = $null; effectiveNow = $true }
        $r = Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -WarningVariable warned -WarningAction SilentlyContinue
        $r.Status | Should -Be 'ManualActionRequired'
        $r.Ews.Status | Should -Be 'ManualActionRequired'
        $r.Ews.Reason | Should -Match 'never set'
        $r.Ews.Command | Should -Be "Set-OrganizationConfig -EwsEnabled `$true -EwsAllowedAppIDs `"$($r.ClientId)`" (Exchange Online PowerShell), or run Grant-KodoEwsAccess -AppId $($r.ClientId) -AllowEwsRestriction"
        ($warned -join ' ') | Should -Match 'EWS: .*Run: Set-OrganizationConfig'
        $r.AuditPassed | Should -BeFalse
        ($r.Audit | Where-Object Check -eq 'EWS allow list').Status | Should -Be 'Fail'
        (Get-Exchange $t).ewsEnabled | Should -BeNullOrEmpty -Because 'nothing is changed without consent'
        $fixed = Invoke-KodoOnboarding -Environment Emulator -AllowEwsRestriction -Confirm:$false
        $fixed.Status | Should -Be 'Succeeded'
        $fixed.Ews.Status | Should -Be 'Configured'
        $fixed.AuditPassed | Should -BeTrue
        (Get-Exchange $t).ewsEnabled | Should -BeTrue
        Get-Allowed $t | Should -Be @($r.ClientId)
        $probe = @(Test-KodoApp -AppId $r.ClientId -ClientSecret $r.ClientSecret -EwsMailbox "admin@$($t.InitialDomain)" -Detailed) | Where-Object Check -like 'Call Exchange Web Services*'
        $probe.Status | Should -Be 'Pass'
    }

    It 'where EWS is off, Kodo turns it on only with -EnableEws' {
        $t = Connect-Tenant 2
        $app = New-KodoApp -DisplayName 'KODO ews off'
        Set-Exchange $t @{ ewsEnabled = $false; effectiveNow = $true }
        $listed = Get-Allowed $t
        $off = $app | Grant-KodoEwsAccess -AllowEwsRestriction -WarningAction SilentlyContinue
        $off.Status | Should -Be 'ManualActionRequired'
        $off.Reason | Should -Match 'off for this organization'
        $off.Command | Should -Match '-EnableEws$'
        (Get-Exchange $t).ewsEnabled | Should -BeFalse
        $on = $app | Grant-KodoEwsAccess -EnableEws
        $on.Status | Should -Be 'Configured'
        (Get-Exchange $t).ewsEnabled | Should -BeTrue
        $after = Get-Allowed $t
        foreach ($id in $listed) { $after | Should -Contain $id }
        $after | Should -Contain $app.ClientId
    }

    It '-WhatIf shows the list before and after, and writes nothing' {
        $t = Connect-Tenant 3
        $app = New-KodoApp -DisplayName 'KODO what-if ews'
        $before = Get-Allowed $t
        $app | Grant-KodoEwsAccess -WhatIf | Should -BeNullOrEmpty
        Get-Allowed $t | Should -Be $before
        # The plan names the list sizes (PowerShell shows it as the What if line).
        $plan = & (Get-Module Kodo) { param($Id) Invoke-KodoNative -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'ews.grant'; appId = $Id; approval = @{ dryRun = $true } }) } $app.ClientId
        $plan.plan[0].action | Should -BeLike "Add app $($app.ClientId) to the EWS allow list (EwsAllowedAppIDs: $($before.Count) app(s) listed before, $($before.Count + 1) after; no entry removed). Before: $($before -join ','). After: $(($before + $app.ClientId) -join ',')"
        $plan.status | Should -Be 'NotApproved'
        @($plan.allowedAppIdsBefore) | Should -Be $before
    }

    It 'a missing Exchange role is an error that names the role, with nothing written' {
        $t = Connect-Tenant 4
        $admins = @((Get-Exchange $t).exchangeAdministrators)
        Set-Exchange $t @{ exchangeAdministrators = @() }
        try {
            Clear-Log
            $err = $null
            try { Invoke-KodoOnboarding -Environment Emulator -Confirm:$false } catch { $err = $_ }
            $err.FullyQualifiedErrorId | Should -Be 'Kodo.PermissionDenied,Invoke-KodoOnboarding'
            $err.Exception.Message | Should -Match 'Exchange Administrator'
            $err.Exception.Message | Should -Match 'Nothing was changed'
            Get-GraphWrites | Should -BeNullOrEmpty
        } finally {
            Set-Exchange $t @{ exchangeAdministrators = $admins }
        }
    }
}

Describe 'App management policies' {
    It 'where secrets are blocked, onboarding stops before writing, then completes with a certificate and writes nothing the policy refuses' {
        $t = Connect-Tenant 5
        $null = Invoke-Control PATCH "tenants/$($t.TenantId)/appManagementPolicy" @{
            isEnabled = $true
            applicationRestrictions = @{ passwordCredentials = @(@{ restrictionType = 'passwordAddition'; maxLifetime = $null; restrictForAppsCreatedAfterDateTime = '2021-01-01T10:37:00Z' }); keyCredentials = @() }
        }
        Clear-Log
        $err = $null
        try { Invoke-KodoOnboarding -Environment Emulator -Confirm:$false } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'Kodo.PolicyBlocked,Invoke-KodoOnboarding'
        [string]$err.CategoryInfo.Category | Should -Be 'SecurityError'
        $err.Exception.Message | Should -Match 'blocks client secrets.*-NewCertificate'
        Get-GraphWrites | Should -BeNullOrEmpty
        $password = ConvertTo-SecureString 'Policy-Pfx-Passw0rd!' -AsPlainText -Force
        $pfx = Join-Path $TestDrive 'kodo-policy.pfx'
        Clear-Log
        $r = Invoke-KodoOnboarding -Environment Emulator -NewCertificate -NewCertificatePassword $password -NewCertificatePath $pfx -Confirm:$false
        $r.Status | Should -Be 'Succeeded'
        $r.ClientSecret | Should -BeNullOrEmpty
        $r.CredentialType | Should -Be 'Certificate'
        $r.CredentialNote | Should -Match 'blocked'
        $r.CertificatePfxPath | Should -Be $pfx
        Test-Path -LiteralPath $pfx | Should -BeTrue
        @(Get-Log | Where-Object { $_.path -like '*/addPassword' }).Count | Should -Be 0
        @(Get-Log | Where-Object { $_.status -ge 400 -and $_.path -like '/v1.0/*' }).Count | Should -Be 0 -Because 'nothing was sent that the policy refuses'
        $r.AuditPassed | Should -BeTrue -Because (($r.Audit | Where-Object Status -eq 'Fail' | ForEach-Object { "$($_.Check): $($_.Detail)" }) -join '; ')
        $null = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $r.ClientId -CertificatePath $pfx -CertificatePassword $password
        (Get-KodoContext).ClientId | Should -Be $r.ClientId
    }

    It 'where secret lifetimes are capped, the secret carries the capped expiry' {
        $t = Connect-Tenant 6
        $null = Invoke-Control PATCH "tenants/$($t.TenantId)/appManagementPolicy" @{
            isEnabled = $true
            applicationRestrictions = @{ passwordCredentials = @(@{ restrictionType = 'passwordLifetime'; maxLifetime = 'P90D'; restrictForAppsCreatedAfterDateTime = '2017-01-01T10:37:00Z' }); keyCredentials = @() }
        }
        Clear-Log
        $r = Invoke-KodoOnboarding -Environment Emulator -Confirm:$false
        $r.Status | Should -Be 'Succeeded'
        $r.ClientSecret | Should -Not -BeNullOrEmpty
        $r.CredentialType | Should -Be 'ClientSecret'
        # On Microsoft's clock (the emulator's, which a clock-skew sweep moves).
        $msNow = [datetime]::UtcNow.AddMilliseconds((Invoke-Control GET 'settings').clockOffsetMs)
        $r.SecretExpiresOn | Should -BeLessOrEqual ($msNow.AddDays(90))
        $r.SecretExpiresOn | Should -BeGreaterThan ($msNow.AddDays(89))
        $r.CredentialNote | Should -Match 'caps client secrets at 90 days'
        @(Get-Log | Where-Object { $_.status -ge 400 -and $_.path -like '/v1.0/*' }).Count | Should -Be 0
        # New-KodoApp -NewSecret follows the same cap.
        $more = New-KodoApp -AppId $r.ClientId -NewSecret -SecretLifetime 365
        $more.SecretExpiresOn | Should -BeLessOrEqual ($msNow.AddMinutes(1).AddDays(90))
        $more.CredentialNote | Should -Match '90 days'
    }

    It "where secret lifetimes are capped, a capped secret is accepted though this machine's clock is a minute ahead of Microsoft's" {
        # Graph starts a secret at its own now and measures the cap from there: an end stamped
        # from this machine's clock, a minute ahead, asked for 90 days and a minute, and the
        # tenant refused it ("Credential lifetime exceeds the max value allowed").
        $t = Connect-Tenant 7
        $null = Invoke-Control PATCH "tenants/$($t.TenantId)/appManagementPolicy" @{
            isEnabled = $true
            applicationRestrictions = @{ passwordCredentials = @(@{ restrictionType = 'passwordLifetime'; maxLifetime = 'P90D'; restrictForAppsCreatedAfterDateTime = '2017-01-01T10:37:00Z' }); keyCredentials = @() }
        }
        $offset = (Invoke-Control GET 'settings').clockOffsetMs
        $null = Invoke-Control PATCH 'settings' @{ clockOffsetMs = -60000 }
        try {
            Clear-Log
            $r = Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit
            $r.Status | Should -Be 'Succeeded'
            $r.ClientSecret | Should -Not -BeNullOrEmpty
            $r.SecretExpiresOn | Should -BeLessOrEqual ([datetime]::UtcNow.AddMinutes(-1).AddDays(90)) -Because "90 days on Microsoft's clock"
            @(Get-Log | Where-Object { $_.status -ge 400 -and $_.path -like '/v1.0/*' }).Count | Should -Be 0
            $more = New-KodoApp -AppId $r.ClientId -NewSecret -SecretLifetime 365
            $more.SecretExpiresOn | Should -BeLessOrEqual ([datetime]::UtcNow.AddMinutes(-1).AddDays(90))
        } finally {
            $null = Invoke-Control PATCH 'settings' @{ clockOffsetMs = $offset }
        }
    }

    It 'a certificate longer than the policy allows is refused before anything is written' {
        $t = Connect-Tenant 6
        $null = Invoke-Control PATCH "tenants/$($t.TenantId)/appManagementPolicy" @{
            isEnabled = $true
            applicationRestrictions = @{ passwordCredentials = @(); keyCredentials = @(@{ restrictionType = 'asymmetricKeyLifetime'; maxLifetime = 'P30D'; restrictForAppsCreatedAfterDateTime = '2017-01-01T10:37:00Z' }) }
        }
        $password = ConvertTo-SecureString 'Policy-Pfx-Passw0rd!' -AsPlainText -Force
        Clear-Log
        $err = $null
        try { New-KodoApp -DisplayName 'KODO long certificate' -NewCertificate -CertificatePassword $password -CertificateLifetime 365 } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'Kodo.PolicyBlocked,New-KodoApp'
        $err.Exception.Message | Should -Match 'at most 30 days.*-CertificateLifetime 30'
        Get-GraphWrites | Should -BeNullOrEmpty
        $ok = New-KodoApp -DisplayName 'KODO short certificate' -NewCertificate -CertificatePassword $password -CertificateLifetime 30 -CertificatePath (Join-Path $TestDrive 'short.pfx')
        $ok.CertificateExpiresOn | Should -BeLessOrEqual ([datetime]::UtcNow.AddDays(30))
    }
}
