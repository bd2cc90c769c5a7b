# -MailboxScope: KODO's mailbox permissions granted in Exchange Online, limited to an
# administrative unit (RBAC for Applications), against the tenant emulator. Each emulator tenant
# has six users (the admin, AdeleV, AlexW, MeganB, NestorW, LeeG) and the administrative unit
# "KODO backup pilot" holding AdeleV and AlexW.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $script:ManifestPath -Force
    $emu = Start-KodoEmulator -Tenants 5
    function Get-Unit($Tenant) { (Invoke-Control GET "tenants/$($Tenant.TenantId)/directory").administrativeUnits | Where-Object displayName -eq 'KODO backup pilot' }
    function Get-Roles($Tenant, [string]$AppId) {
        $x = Get-Exchange $Tenant
        $sp = @($x.servicePrincipals | Where-Object appId -eq $AppId)
        @($x.roleAssignments | Where-Object { $sp -and $_.assignee -eq $sp[0].objectId })
    }
    # What Exchange holds (the control API: the request log does not carry the cmdlet).
    function Get-ExchangeRbac($Tenant) { $x = Get-Exchange $Tenant; (@($x.servicePrincipals) + @($x.roleAssignments)) | ConvertTo-Json -Depth 5 -Compress }
    function Get-Probe($Result, [string]$Mailbox) {
        @(Test-KodoApp -AppId $Result.ClientId -ClientSecret $Result.ClientSecret -EwsMailbox $Mailbox -Detailed) | Where-Object Check -like 'Call Exchange Web Services*'
    }
    $mailRoles = @('Application Calendars.ReadWrite', 'Application Contacts.ReadWrite', 'Application Mail.ReadWrite', 'Application Mail.Read', 'Application EWS.AccessAsApp')
}

AfterAll {
    Stop-KodoEmulator
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'Invoke-KodoOnboarding -MailboxScope' {
    It 'onboards with the mailbox permissions as Exchange roles scoped to the unit: KODO reaches its members and no one else; a re-run changes nothing' {
        $t = Connect-Tenant 0
        $unit = Get-Unit $t
        $r = Invoke-KodoOnboarding -Environment Emulator -MailboxScope $unit.id -Confirm:$false
        $r.Status | Should -Be 'Succeeded'
        $r.AuditPassed | Should -BeTrue -Because (($r.Audit | Where-Object Status -eq 'Fail' | ForEach-Object { "$($_.Check): $($_.Detail)" }) -join '; ')
        $s = $r.MailboxScope
        $s.Status | Should -Be 'Configured'
        $s.AdministrativeUnit | Should -Be 'KODO backup pilot'
        $s.MailboxesInScope | Should -Be 2
        $s.MailboxesOutOfScope | Should -Be 4
        $s.Verified | Should -BeTrue
        $s.ExchangeServicePrincipal | Should -Not -BeNullOrEmpty
        @($s.Roles.Role) | Sort-Object | Should -Be ($mailRoles | Sort-Object)
        $s.Notes[0] | Should -Match "2 user member\(s\) \(e\.g\. adelev@$([regex]::Escape($t.InitialDomain))"
        # Entra holds none of the mailbox permissions: they are Exchange's, scoped.
        $scoped = @($r.Permissions | Where-Object Status -eq 'ScopedInExchange')
        $scoped.Count | Should -Be 5
        @($scoped.Permission) | Should -Contain 'full_access_as_app'
        $roles = Get-Roles $t $r.ClientId
        $roles.Count | Should -Be 5
        $roles | ForEach-Object { $_.auScope | Should -Be $unit.id }
        # The live EWS probe as the app: a member's mailbox answers, another's does not.
        (Get-Probe $r "adelev@$($t.InitialDomain)").Status | Should -Be 'Pass'
        $outside = Get-Probe $r "meganb@$($t.InitialDomain)"
        $outside.Status | Should -Be 'Fail'
        $outside.Detail | Should -Match 'outside the scope'

        Clear-Log
        $rbac = Get-ExchangeRbac $t
        $again = Invoke-KodoOnboarding -Environment Emulator -MailboxScope $unit.id -Confirm:$false
        $again.Changes | Should -BeNullOrEmpty
        $again.MailboxScope.Status | Should -Be 'AlreadyConfigured'
        $again.AuditPassed | Should -BeTrue
        Get-GraphWrites | Should -BeNullOrEmpty
        Get-ExchangeRbac $t | Should -Be $rbac
    }

    It 'an administrative unit that does not exist is a specific error, with nothing written' {
        $t = Connect-Tenant 1
        Clear-Log
        $rbac = Get-ExchangeRbac $t
        $err = $null
        try { Invoke-KodoOnboarding -Environment Emulator -MailboxScope ([guid]::NewGuid()) -Confirm:$false } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'Kodo.NotFound,Invoke-KodoOnboarding'
        $err.Exception.Message | Should -Match 'no administrative unit'
        $err.Exception.Message | Should -Match 'Nothing was changed'
        Get-GraphWrites | Should -BeNullOrEmpty
        Get-ExchangeRbac $t | Should -Be $rbac
    }
}

Describe 'Grant-KodoPermissions -MailboxScope on an app granted tenant-wide' {
    It 'the plan says whom KODO will and will not reach; -WhatIf writes nothing' {
        $t = Connect-Tenant 2
        $unit = Get-Unit $t
        $app = New-KodoApp -DisplayName 'KODO scope plan'
        $null = $app | Grant-KodoPermissions
        Clear-Log
        $rbac = Get-ExchangeRbac $t
        $app | Grant-KodoPermissions -MailboxScope $unit.id -WhatIf | Out-Null
        Get-GraphWrites | Should -BeNullOrEmpty
        Get-ExchangeRbac $t | Should -Be $rbac
        $plan = & (Get-Module Kodo) { param($Id, $Unit) Invoke-KodoNative -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'permissions.grant'; appId = $Id; mailboxScope = $Unit; manifest = (Get-KodoManifest -Name Seed); approval = @{ dryRun = $true } }) } $app.ClientId $unit.id
        $ids = @($plan.plan.id)
        $ids | Should -Contain 'exchangeServicePrincipal'
        $ids | Should -Contain 'exchangeRole:Application Mail.ReadWrite'
        $ids | Should -Contain 'requiredResourceAccess'
        @($ids | Where-Object { $_ -like 'revoke:*' }).Count | Should -Be 5
        $role = $plan.plan | Where-Object id -eq 'exchangeRole:Application EWS.AccessAsApp'
        $role.action | Should -Match "KODO will reach the mailboxes of its 2 user member\(s\).* and not those of the tenant's 4 other user\(s\)"
        ($plan.plan | Where-Object id -like 'revoke:*' | Select-Object -First 1).action | Should -Match 'reaches every mailbox'
        $plan.mailboxScope.status | Should -Be 'Planned'
    }

    It 'the audit fails while a tenant-wide grant widens the scope; the grant revokes it, and the audit passes' {
        $t = Connect-Tenant 3
        $unit = Get-Unit $t
        $app = New-KodoApp -DisplayName 'KODO scope existing' -NewSecret
        $null = $app | Grant-KodoPermissions
        $null = $app | Grant-KodoEwsAccess
        $before = @(Test-KodoApp -AppId $app.ClientId -MailboxScope $unit.id -Detailed)
        $wide = @($before | Where-Object { $_.Status -eq 'Fail' -and $_.Detail -match 'tenant-wide' })
        $wide.Count | Should -Be 5
        $out = @(Grant-KodoPermissions -AppId $app.ClientId -MailboxScope $unit.id -Confirm:$false)
        $rows = @($out | Where-Object { $_.PSTypeNames -contains 'Kodo.PermissionResult' })
        $scope = $out | Where-Object { $_.PSTypeNames -contains 'Kodo.MailboxScope' }
        $scope.Status | Should -Be 'Configured'
        $scope.Verified | Should -BeTrue
        @($rows | Where-Object Status -eq 'ScopedInExchange' | Where-Object Note -match 'tenant-wide grant was revoked').Count | Should -Be 5
        $after = @(Test-KodoApp -AppId $app.ClientId -MailboxScope $unit.id -Detailed)
        @($after | Where-Object Status -eq 'Fail') | Should -BeNullOrEmpty -Because (($after | Where-Object Status -eq 'Fail' | ForEach-Object { "$($_.Check): $($_.Detail)" }) -join '; ')
        # Without -MailboxScope, the audit sees the Exchange roles and passes them too.
        $plain = @(Test-KodoApp -AppId $app.ClientId -Detailed | Where-Object { $_.Check -like '*Mail.ReadWrite*' })
        $plain.Status | Should -Be 'Pass'
        $plain.Detail | Should -Match 'Granted in Exchange Online'
        # The app's token no longer carries the mailbox roles, and the live sign-in does not ask for them.
        $live = @(Test-KodoApp -AppId $app.ClientId -ClientSecret $app.ClientSecret -MailboxScope $unit.id -EwsMailbox "alexw@$($t.InitialDomain)" -Detailed)
        @($live | Where-Object Status -eq 'Fail') | Should -BeNullOrEmpty -Because (($live | Where-Object Status -eq 'Fail' | ForEach-Object { "$($_.Check): $($_.Detail)" }) -join '; ')
    }

    It 'the live EWS probe tells a role Exchange has not applied yet from a mailbox outside the scope' {
        $t = Connect-Tenant 1
        $unit = Get-Unit $t
        $null = Invoke-Control PATCH settings @{ rbacPropagationMs = 4000 }
        try {
            $app = New-KodoApp -DisplayName 'KODO scope propagation' -NewSecret
            $null = Grant-KodoPermissions -AppId $app.ClientId -MailboxScope $unit.id -Confirm:$false
            $null = $app | Grant-KodoEwsAccess
            $r = [pscustomobject]@{ ClientId = $app.ClientId; ClientSecret = $app.ClientSecret }
            $early = Get-Probe $r "alexw@$($t.InitialDomain)"
            $early.Status | Should -Be 'Warn'
            $early.Detail | Should -Match 'Configured, not yet effective'
            Start-Sleep -Seconds 5
            (Get-Probe $r "alexw@$($t.InitialDomain)").Status | Should -Be 'Pass'
        } finally {
            $null = Invoke-Control PATCH settings @{ rbacPropagationMs = 0 }
        }
    }

    It 'converges after an interruption between registering the app in Exchange and assigning its roles' {
        $t = Connect-Tenant 4
        $unit = Get-Unit $t
        $app = New-KodoApp -DisplayName 'KODO scope interrupted'
        # Only the first step runs, as if the process had been killed right after it.
        $partial = & (Get-Module Kodo) { param($Id, $Unit) Invoke-KodoNative -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'permissions.grant'; appId = $Id; mailboxScope = $Unit; manifest = (Get-KodoManifest -Name Seed); approval = @{ approved = @('exchangeServicePrincipal') } }) } $app.ClientId $unit.id
        $partial.mailboxScope.status | Should -Be 'Incomplete'
        @((Get-Exchange $t).servicePrincipals | Where-Object appId -eq $app.ClientId).Count | Should -Be 1
        (Get-Roles $t $app.ClientId).Count | Should -Be 0
        $out = @(Grant-KodoPermissions -AppId $app.ClientId -MailboxScope $unit.id -Confirm:$false)
        ($out | Where-Object { $_.PSTypeNames -contains 'Kodo.MailboxScope' }).Status | Should -Be 'Configured'
        @((Get-Exchange $t).servicePrincipals | Where-Object appId -eq $app.ClientId).Count | Should -Be 1 -Because 'no duplicate pointer'
        (Get-Roles $t $app.ClientId).Count | Should -Be 5
    }
}
