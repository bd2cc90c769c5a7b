# The multi-tenant model (issue 18) against the tenant emulator, through the real module and
# library: one multi-tenant KODO app in the provider's tenant (tenant 0), customer tenants
# (1, 2) onboarded by their admin following New-KodoConsentLink's URL (the test plays the
# admin's browser: no customer-side script), and Test-KodoConsent proving the grants from the
# provider's side by signing in to the customer tenant as the app.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $script:ManifestPath -Force
    # Tenants 4, 5 and 6 are the GDAP path's customers; device codes are approved by the emulator
    # (the partner admin's sign-in, Connect-Kodo -UseDeviceCode).
    $emu = Start-KodoEmulator -Tenants 7 -AutoApproveDeviceCodes
    $script:Redirect = 'https://partner.example/kodo/consented'
    $script:Provider = Connect-Tenant 0
    $script:App = New-KodoApp -DisplayName 'KODO for Cloud backup' -MultiTenant -ConsentRedirectUri $script:Redirect -Confirm:$false
    # Declares the manifest's permissions on the app (what customers consent to) and consents in
    # the provider's own tenant.
    $null = Grant-KodoPermissions -AppId $script:App.ClientId -Confirm:$false
    $script:SecretText = [System.Net.NetworkCredential]::new('', $script:App.ClientSecret).Password

    # The customer admin's browser: opens the link, answers the consent page, returns the
    # redirect's address (not followed: the redirect URI is the provider's web site).
    function Invoke-AdminConsent($Link, [string]$Action = 'accept') {
        $page = Invoke-WebRequest -Uri $Link.Url -SkipCertificateCheck -MaximumRedirection 0 -SkipHttpErrorCheck
        $page.StatusCode | Should -Be 200 -Because $page.Content
        $form = [regex]::Match($page.Content, '<form method="post" action="([^"]+)"').Groups[1].Value
        # PowerShell 7 reports the redirect it was told not to follow as an error; the response is still returned.
        $r = Invoke-WebRequest -Method Post -Uri $form -Body @{ action = $Action } -SkipCertificateCheck -MaximumRedirection 0 -SkipHttpErrorCheck -ErrorAction SilentlyContinue
        $r.StatusCode | Should -Be 302
        [string]@($r.Headers['Location'])[0]
    }
    function Get-Query([string]$Address) {
        $q = @{}
        foreach ($pair in $Address.Split('?', 2)[1].Split('&')) {
            $k, $v = $pair.Split('=', 2)
            $q[[uri]::UnescapeDataString($k)] = [uri]::UnescapeDataString($v.Replace('+', ' '))
        }
        $q
    }
    function Get-PlainToken($Tenant) {
        $body = @{ grant_type = 'client_credentials'; client_id = $Tenant.BootstrapClientId; client_secret = $Tenant.BootstrapCredential.GetNetworkCredential().Password; scope = 'https://graph.microsoft.com/.default' }
        (Invoke-RestMethod -Method Post -Uri "$($emu.Url)/$($Tenant.TenantId)/oauth2/v2.0/token" -Body $body -SkipCertificateCheck).access_token
    }
    function Invoke-PlainGraph($Tenant, [string]$Path) {
        Invoke-RestMethod -Uri "$($emu.Url)/v1.0/$Path" -Headers @{ Authorization = "Bearer $(Get-PlainToken $Tenant)" } -SkipCertificateCheck
    }
    function Get-Allowed($Tenant) { @(([string](Get-Exchange $Tenant).ewsAllowedAppIDs) -split ',' | Where-Object { $_ }) }
    function Get-Mailbox($Tenant) { "admin@$($Tenant.InitialDomain)" }
    # A customer given by two names (its id and its domain) is one consent-ledger entry: named as
    # it was first given, with its directory id, Consented, and found by the other name too.
    function Assert-OneConsentEntry([string]$Ledger, $Customer, [string]$FirstName, [string]$OtherName) {
        $s = @(Get-KodoOnboardingStatus -LedgerPath $Ledger)
        $s.Count | Should -Be 1
        $s[0].TenantId | Should -Be $FirstName -Because 'the entry keeps the name it was first given'
        $s[0].DirectoryId | Should -Be $Customer.TenantId
        $s[0].Status | Should -Be 'Consented'
        (Get-KodoOnboardingStatus -LedgerPath $Ledger -TenantId $OtherName).State | Should -Be 'inProgress'
    }
    function Get-Assignments($Tenant) {
        $sp = Invoke-PlainGraph $Tenant "servicePrincipals(appId='$($script:App.ClientId)')"
        @((Invoke-PlainGraph $Tenant "servicePrincipals/$($sp.id)/appRoleAssignments").value)
    }
}

AfterAll {
    Disconnect-Kodo
    Stop-KodoEmulator
}

Describe 'Multi-tenant KODO app: consent links' {
    It 'New-KodoApp -MultiTenant registers the app for other tenants, with the consent redirect URI' {
        $plain = Invoke-PlainGraph $script:Provider "applications(appId='$($script:App.ClientId)')"
        $plain.signInAudience | Should -Be 'AzureADMultipleOrgs'
        $plain.web.redirectUris | Should -Contain $script:Redirect
        @($plain.requiredResourceAccess).Count | Should -BeGreaterThan 0
    }

    It 'before consent, Test-KodoConsent reports NotConsented as an object, not an error' {
        $customer = $emu.Tenants[1]
        $r = Test-KodoConsent -AppId $script:App.ClientId -TenantId $customer.TenantId -ClientSecret $script:App.ClientSecret -ErrorVariable ev
        $ev.Count | Should -Be 0
        $r.PSTypeNames | Should -Contain 'Kodo.ConsentStatus'
        $r.Status | Should -Be 'NotConsented'
        $r.Consented | Should -BeFalse
        $r.ServicePrincipalPresent | Should -BeFalse
        $r.RequiredRoles | Should -BeGreaterThan 0
        $r.Missing.Count | Should -Be $r.RequiredRoles
        $r.Detail | Should -Match 'AADSTS7000229'
    }

    It 'New-KodoConsentLink: the admin consent URL with a fresh, unguessable state and nothing secret' {
        $customer = $emu.Tenants[1]
        $a = New-KodoConsentLink -AppId $script:App.ClientId -TenantId $customer.TenantId -RedirectUri $script:Redirect
        $b = New-KodoConsentLink -AppId $script:App.ClientId -TenantId $customer.TenantId -RedirectUri $script:Redirect
        $a.PSTypeNames | Should -Contain 'Kodo.ConsentLink'
        $a.State | Should -Not -Be $b.State
        $a.State.Length | Should -BeGreaterOrEqual 43
        $a.Url | Should -BeLike "$($emu.Url)/$($customer.TenantId)/v2.0/adminconsent?*"
        $q = Get-Query $a.Url
        $q['client_id'] | Should -Be $script:App.ClientId
        $q['redirect_uri'] | Should -Be $script:Redirect
        $q['scope'] | Should -Be 'https://graph.microsoft.com/.default'
        $q['state'] | Should -Be $a.State
        $a.TenantId | Should -Be $customer.TenantId
        $a.CreatedOn | Should -BeGreaterThan ([datetime]::UtcNow.AddMinutes(-5))
        ($a | ConvertTo-Json) | Should -Not -Match ([regex]::Escape($script:SecretText))
    }

    It 'the customer admin follows the link (no customer-side script) and Test-KodoConsent proves every grant' {
        $customer = $emu.Tenants[1]
        $link = New-KodoConsentLink -AppId $script:App.ClientId -TenantId $customer.TenantId -RedirectUri $script:Redirect
        $back = Invoke-AdminConsent $link
        $back | Should -BeLike "$($script:Redirect)?*"
        $q = Get-Query $back
        $q['admin_consent'] | Should -Be 'True'
        $q['tenant'] | Should -Be $customer.TenantId
        $q['state'] | Should -Be $link.State

        $r = Test-KodoConsent -AppId $script:App.ClientId -TenantId $customer.TenantId -ClientSecret $script:App.ClientSecret
        $r.Status | Should -Be 'Consented'
        $r.Consented | Should -BeTrue
        # Consent is not backup-ready: EWS was not checked, and the answer says what is left.
        $r.BackupReady | Should -BeFalse
        $r.EwsAccess | Should -Be 'NotChecked'
        $r.Detail | Should -Match 'EwsAllowedAppIDs'
        $r.ServicePrincipalPresent | Should -BeTrue
        $r.Missing.Count | Should -Be 0
        $r.GrantedRoles | Should -Be $r.RequiredRoles

        # Seen from the customer's directory: the provider's app, one assignment per role.
        $sp = Invoke-PlainGraph $customer "servicePrincipals(appId='$($script:App.ClientId)')"
        $sp.appOwnerOrganizationId | Should -Be $script:Provider.TenantId
        # (SharePoint and Exchange reuse some of Graph's role ids: unique by resource and role.)
        $ids = @(Get-Assignments $customer | ForEach-Object { "$($_.resourceId)/$($_.appRoleId)" })
        $ids.Count | Should -Be $r.RequiredRoles
        @($ids | Select-Object -Unique).Count | Should -Be $ids.Count
    }

    It 'consent alone does not admit KODO to the customer''s mail: EWS refuses the app until the customer''s admin puts it on the allow list; then Ready' {
        $customer = $emu.Tenants[1]
        $mailbox = Get-Mailbox $customer
        $r = Test-KodoConsent -AppId $script:App.ClientId -TenantId $customer.TenantId -ClientSecret $script:App.ClientSecret -EwsMailbox $mailbox
        $r.Consented | Should -BeTrue
        $r.Status | Should -Be 'EwsNotAdmitted'
        $r.EwsAccess | Should -Be 'Denied'
        $r.BackupReady | Should -BeFalse
        $r.EwsDetail | Should -Match 'Grant-KodoEwsAccess -AppId'
        # The customer's Exchange administrator (here the customer's own automation app) runs the EWS step.
        try {
            $null = Connect-Tenant 1
            $ews = Grant-KodoEwsAccess -AppId $script:App.ClientId -Confirm:$false
            $ews.Status | Should -Be 'Configured'
        } finally {
            $null = Connect-Tenant 0
        }
        $ready = Test-KodoConsent -AppId $script:App.ClientId -TenantId $customer.TenantId -ClientSecret $script:App.ClientSecret -EwsMailbox $mailbox
        $ready.Status | Should -Be 'Ready' -Because $ready.Detail
        $ready.EwsAccess | Should -Be 'Admitted'
        $ready.BackupReady | Should -BeTrue
        # A bad mailbox is refused before anything is sent.
        { Test-KodoConsent -AppId $script:App.ClientId -TenantId $customer.TenantId -ClientSecret $script:App.ClientSecret -EwsMailbox 'no mailbox' -ErrorAction Stop } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,Test-KodoConsent'
    }

    It 'several customers at once, by pipeline: one object per tenant' {
        $customers = @($emu.Tenants[2].TenantId, $emu.Tenants[3].TenantId)
        $links = @($customers | New-KodoConsentLink -AppId $script:App.ClientId -RedirectUri $script:Redirect)
        $links.Count | Should -Be 2
        $null = Invoke-AdminConsent $links[0]
        $r = @($links | Test-KodoConsent -AppId $script:App.ClientId -ClientSecret $script:App.ClientSecret)
        $r.Count | Should -Be 2
        ($r | Where-Object TenantId -eq $customers[0]).Status | Should -Be 'Consented'
        ($r | Where-Object TenantId -eq $customers[1]).Status | Should -Be 'NotConsented'
    }

    It 'a consent ledger tracks each customer from link to Ready; a re-check of an unchanged fleet writes nothing; -WhatIf records nothing' {
        $ledger = Join-Path $TestDrive 'consents.jsonl'
        $customers = @($emu.Tenants[2].TenantId, $emu.Tenants[3].TenantId)
        $null = $customers | New-KodoConsentLink -AppId $script:App.ClientId -RedirectUri $script:Redirect -WhatIf
        Test-Path $ledger | Should -BeFalse
        $null = $customers | New-KodoConsentLink -AppId $script:App.ClientId -RedirectUri $script:Redirect -LedgerPath $ledger
        $s = @(Get-KodoOnboardingStatus -LedgerPath $ledger)
        $s.Count | Should -Be 2
        @($s | Where-Object { $_.State -eq 'planned' -and $_.Status -eq 'LinkCreated' }).Count | Should -Be 2
        # Customer 2's admin consented in an earlier test, customer 3's not: the re-check, by pipeline from the ledger.
        $checked = @(Get-KodoOnboardingStatus -LedgerPath $ledger | Test-KodoConsent -AppId $script:App.ClientId -ClientSecret $script:App.ClientSecret -LedgerPath $ledger)
        $checked.Count | Should -Be 2
        $s = @(Get-KodoOnboardingStatus -LedgerPath $ledger)
        $two = $s | Where-Object TenantId -eq $customers[0]
        $two.State | Should -Be 'inProgress'
        $two.Status | Should -Be 'Consented'
        $two.NextAction | Should -Match 'EwsAllowedAppIDs'
        $three = $s | Where-Object TenantId -eq $customers[1]
        $three.State | Should -Be 'planned'
        $three.Status | Should -Be 'NotConsented'
        $bytes = [System.IO.File]::ReadAllBytes($ledger)
        $null = $customers | Test-KodoConsent -AppId $script:App.ClientId -ClientSecret $script:App.ClientSecret -LedgerPath $ledger
        [System.IO.File]::ReadAllBytes($ledger) | Should -Be $bytes -Because 'nothing changed, so nothing is written'
        # Customer 2's Exchange admits the app (its admin's step), and the proof makes it done.
        try {
            $null = Connect-Tenant 2
            $null = Grant-KodoEwsAccess -AppId $script:App.ClientId -Confirm:$false
        } finally {
            $null = Connect-Tenant 0
        }
        $mailbox = Get-Mailbox $emu.Tenants[2]
        $null = Test-KodoConsent -AppId $script:App.ClientId -TenantId $customers[0] -ClientSecret $script:App.ClientSecret -EwsMailbox $mailbox -LedgerPath $ledger -WhatIf
        [System.IO.File]::ReadAllBytes($ledger) | Should -Be $bytes -Because '-WhatIf records nothing'
        $ready = Test-KodoConsent -AppId $script:App.ClientId -TenantId $customers[0] -ClientSecret $script:App.ClientSecret -EwsMailbox $mailbox -LedgerPath $ledger
        $ready.Status | Should -Be 'Ready'
        (Get-KodoOnboardingStatus -LedgerPath $ledger -TenantId $customers[0]).State | Should -Be 'done'
        # A new link does not take a done tenant back.
        $null = New-KodoConsentLink -AppId $script:App.ClientId -TenantId $customers[0] -RedirectUri $script:Redirect -LedgerPath $ledger
        (Get-KodoOnboardingStatus -LedgerPath $ledger -TenantId $customers[0]).State | Should -Be 'done'
        $sum = Get-KodoOnboardingStatus -LedgerPath $ledger -Summary
        $sum.Done | Should -Be 1
        $sum.Planned | Should -Be 1
        (Get-Content -Raw $ledger) | Should -Not -Match ([regex]::Escape($script:SecretText))
    }

    It 'a customer linked by its id and checked by its domain is one ledger entry' {
        $ledger = Join-Path $TestDrive 'by-name.jsonl'
        $customer = $emu.Tenants[2]
        $null = New-KodoConsentLink -AppId $script:App.ClientId -TenantId $customer.TenantId -RedirectUri $script:Redirect -LedgerPath $ledger
        $byDomain = Test-KodoConsent -AppId $script:App.ClientId -TenantId $customer.InitialDomain -ClientSecret $script:App.ClientSecret -LedgerPath $ledger
        $byDomain.Status | Should -Be 'Consented'
        Assert-OneConsentEntry $ledger $customer -FirstName $customer.TenantId -OtherName $customer.InitialDomain
        # Checked again by its id: the same entry, unchanged, so nothing is written.
        $bytes = [System.IO.File]::ReadAllBytes($ledger)
        $null = Test-KodoConsent -AppId $script:App.ClientId -TenantId $customer.TenantId -ClientSecret $script:App.ClientSecret -LedgerPath $ledger
        [System.IO.File]::ReadAllBytes($ledger) | Should -Be $bytes
    }

    It 'a customer linked by its domain and checked by its id is one ledger entry: its verified domains read once, as the app' {
        $ledger = Join-Path $TestDrive 'by-domain.jsonl'
        $customer = $emu.Tenants[2]
        $null = New-KodoConsentLink -AppId $script:App.ClientId -TenantId $customer.InitialDomain -RedirectUri $script:Redirect -LedgerPath $ledger
        $null = Invoke-Control DELETE 'requests'
        $byId = Test-KodoConsent -AppId $script:App.ClientId -TenantId $customer.TenantId -ClientSecret $script:App.ClientSecret -LedgerPath $ledger
        $byId.Status | Should -Be 'Consented'
        @(Invoke-Control GET 'requests' | ForEach-Object { $_ } | Where-Object path -eq '/v1.0/organization').Count | Should -Be 1
        Assert-OneConsentEntry $ledger $customer -FirstName $customer.InitialDomain -OtherName $customer.TenantId
        # Checked again by its id: the ledger knows it now, so nothing is read and nothing written.
        $null = Invoke-Control DELETE 'requests'
        $bytes = [System.IO.File]::ReadAllBytes($ledger)
        $null = Test-KodoConsent -AppId $script:App.ClientId -TenantId $customer.TenantId -ClientSecret $script:App.ClientSecret -LedgerPath $ledger
        [System.IO.File]::ReadAllBytes($ledger) | Should -Be $bytes
        @(Invoke-Control GET 'requests' | ForEach-Object { $_ } | Where-Object path -eq '/v1.0/organization').Count | Should -Be 0
        # A customer whose domains the ledger does not hold is its own entry, read for nothing else.
        $other = $emu.Tenants[3]
        $null = Test-KodoConsent -AppId $script:App.ClientId -TenantId $other.TenantId -ClientSecret $script:App.ClientSecret -LedgerPath $ledger
        @(Get-KodoOnboardingStatus -LedgerPath $ledger).Count | Should -Be 2
    }

    It 'the admin cancels: the redirect says so and nothing is granted' {
        $customer = $emu.Tenants[3]
        $link = New-KodoConsentLink -AppId $script:App.ClientId -TenantId $customer.TenantId -RedirectUri $script:Redirect
        $q = Get-Query (Invoke-AdminConsent $link -Action cancel)
        # Entra's redirect on Cancel (MicrosoftDocs/azure-docs#114009): access_denied, AADSTS65004.
        $q['error'] | Should -Be 'access_denied'
        $q['error_description'] | Should -BeLike 'AADSTS65004: User declined to consent to access the app.*'
        $q['admin_consent'] | Should -Be 'True'
        $q['state'] | Should -Be $link.State
        (Test-KodoConsent -AppId $script:App.ClientId -TenantId $customer.TenantId -ClientSecret $script:App.ClientSecret).Status | Should -Be 'NotConsented'
    }

    It 're-runs change nothing: New-KodoApp -MultiTenant writes nothing, consenting again grants nothing twice' {
        $customer = $emu.Tenants[1]
        $before = @(Get-Assignments $customer).Count
        Clear-Log
        $again = New-KodoApp -DisplayName 'KODO for Cloud backup' -MultiTenant -ConsentRedirectUri $script:Redirect -Confirm:$false -InformationVariable info
        $again.ClientId | Should -Be $script:App.ClientId
        @(Get-GraphWrites).Count | Should -Be 0
        $null = Invoke-AdminConsent (New-KodoConsentLink -AppId $script:App.ClientId -TenantId $customer.TenantId -RedirectUri $script:Redirect)
        @(Get-Assignments $customer).Count | Should -Be $before
    }

    It 'an existing single-tenant app: -WhatIf writes nothing, then -MultiTenant turns it multi-tenant and keeps its redirect URIs' {
        try {
            $other = Connect-Tenant 3
            $single = New-KodoApp -DisplayName 'KODO single' -Confirm:$false
            (Invoke-PlainGraph $other "applications(appId='$($single.ClientId)')").signInAudience | Should -Be 'AzureADMyOrg'
            Clear-Log
            $null = New-KodoApp -AppId $single.ClientId -MultiTenant -ConsentRedirectUri $script:Redirect -WhatIf
            @(Get-GraphWrites).Count | Should -Be 0
            (Invoke-PlainGraph $other "applications(appId='$($single.ClientId)')").signInAudience | Should -Be 'AzureADMyOrg'
            $null = New-KodoApp -AppId $single.ClientId -MultiTenant -ConsentRedirectUri $script:Redirect -Confirm:$false
            $plain = Invoke-PlainGraph $other "applications(appId='$($single.ClientId)')"
            $plain.signInAudience | Should -Be 'AzureADMultipleOrgs'
            $plain.web.redirectUris | Should -Contain $script:Redirect
        } finally {
            $null = Connect-Tenant 0
        }
    }

    It 'bad input fails with a stable error id and changes nothing' {
        { New-KodoConsentLink -AppId $script:App.ClientId -TenantId $emu.Tenants[1].TenantId -RedirectUri 'http://partner.example/x' -ErrorAction Stop } |
            Should -Throw -ErrorId 'Kodo.InvalidArgument,New-KodoConsentLink'
        { New-KodoConsentLink -AppId $script:App.ClientId -TenantId 'not a tenant' -RedirectUri $script:Redirect -ErrorAction Stop } |
            Should -Throw -ErrorId 'Kodo.InvalidArgument,New-KodoConsentLink'
        Clear-Log
        { New-KodoApp -MultiTenant -Confirm:$false } | Should -Throw -ErrorId 'Kodo.InvalidArgument,New-KodoApp'
        { Test-KodoConsent -AppId $script:App.ClientId -TenantId $emu.Tenants[1].TenantId } | Should -Throw -ErrorId 'Kodo.NoSignInCredential,Test-KodoConsent'
        @(Get-GraphWrites).Count | Should -Be 0
    }

    It 'a wrong secret is an error, not a "not consented"' {
        $wrong = ConvertTo-SecureString 'not-the-secret' -AsPlainText -Force
        { Test-KodoConsent -AppId $script:App.ClientId -TenantId $emu.Tenants[1].TenantId -ClientSecret $wrong -ErrorAction Stop } |
            Should -Throw -ErrorId 'Kodo.AuthenticationFailed,Test-KodoConsent'
    }

    It 'no secret in any stream' {
        $all = & {
            New-KodoConsentLink -AppId $script:App.ClientId -TenantId $emu.Tenants[1].TenantId -RedirectUri $script:Redirect -Verbose
            Test-KodoConsent -AppId $script:App.ClientId -TenantId $emu.Tenants[1].TenantId -ClientSecret $script:App.ClientSecret -Verbose
            Test-KodoConsent -AppId $script:App.ClientId -TenantId $emu.Tenants[3].TenantId -ClientSecret $script:App.ClientSecret -Verbose
        } *>&1 | Out-String -Width 4096
        $all | Should -Not -Match ([regex]::Escape($script:SecretText))
        $all | Should -Not -Match 'eyJ[A-Za-z0-9_-]{10,}\.'
    }
}

Describe 'GDAP: the partner''s relationship with a customer, checked before consent' {
    BeforeAll {
        # Relationships of the provider (tenant 0) with customers 1 (ready), 2 (expired) and 3
        # (active, Cloud Application Administrator only), seeded through the control API. Role ids:
        # docs/multitenant-research.md §3.
        $script:PRA = 'e8611ab8-c189-46e8-94e1-60213ab1f814'
        $script:AppAdmin = '9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3'
        $script:CloudAppAdmin = '158c047a-c907-4556-b7ef-446551a6b5f7'
        $path = "tenants/$($script:Provider.TenantId)/delegatedAdminRelationships"
        $null = Invoke-Control POST $path @{ customerTenantId = $emu.Tenants[1].TenantId; roleDefinitionIds = @($script:PRA, $script:AppAdmin) }
        $null = Invoke-Control POST $path @{ customerTenantId = $emu.Tenants[2].TenantId; roleDefinitionIds = @($script:PRA, $script:AppAdmin); endDateTime = '2026-01-01T00:00:00Z' }
        $null = Invoke-Control POST $path @{ customerTenantId = $emu.Tenants[3].TenantId; roleDefinitionIds = @($script:CloudAppAdmin) }
    }

    It 'without DelegatedAdminRelationship.Read.All the check fails with a specific error' {
        $null = Connect-Tenant 0
        { Test-KodoGdapAccess -TenantId $emu.Tenants[1].TenantId -ErrorAction Stop } |
            Should -Throw -ErrorId 'Kodo.PermissionDenied,Test-KodoGdapAccess'
    }

    It 'reports ready, expired, missing role and no relationship, one object per tenant' {
        # The provider grants its automation app the read permission (plain Graph), then signs in again.
        $token = Get-PlainToken $script:Provider
        $h = @{ Authorization = "Bearer $token" }
        $graphSp = Invoke-RestMethod -Uri "$($emu.Url)/v1.0/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')" -Headers $h -SkipCertificateCheck
        $boot = Invoke-RestMethod -Uri "$($emu.Url)/v1.0/servicePrincipals(appId='$($script:Provider.BootstrapClientId)')" -Headers $h -SkipCertificateCheck
        $role = ($graphSp.appRoles | Where-Object value -eq 'DelegatedAdminRelationship.Read.All').id
        $null = Invoke-RestMethod -Method Post -Uri "$($emu.Url)/v1.0/servicePrincipals/$($graphSp.id)/appRoleAssignedTo" -Headers $h -SkipCertificateCheck `
            -ContentType 'application/json' -Body (@{ principalId = $boot.id; resourceId = $graphSp.id; appRoleId = $role } | ConvertTo-Json)
        Disconnect-Kodo
        $null = Connect-Tenant 0
        Clear-Log
        $ids = @($emu.Tenants[1].TenantId, $emu.Tenants[2].TenantId, $emu.Tenants[3].TenantId, [guid]::NewGuid().ToString())
        $r = @($ids | Test-KodoGdapAccess)
        $r.Count | Should -Be 4
        $r[0].Ready | Should -BeTrue
        $r[0].Reason | Should -Be 'Ready'
        $r[0].CanSetEwsAllowList | Should -BeFalse
        $r[0].Detail | Should -Match 'EWS allow list stays the customer'
        $r[1].Reason | Should -Be 'Expired'
        $r[1].Ready | Should -BeFalse
        $r[2].Reason | Should -Be 'MissingRoles'
        $r[2].MissingRoles | Should -Be @('Privileged Role Administrator')
        $r[3].Reason | Should -Be 'NoRelationship'
        @(Get-GraphWrites).Count | Should -Be 0
    }
}

Describe 'GDAP: Grant-KodoConsent onboards a customer tenant as the partner''s admin, no customer-side script' {
    BeforeAll {
        # Customer 4: an active relationship with Privileged Role Administrator, Application
        # Administrator and Exchange Administrator (the EWS allow list). Customer 6: the first
        # two only. Customers 2 (expired), 3 (Cloud Application Administrator only) are the
        # previous block's; customer 5 has none. Role ids: docs/multitenant-research.md §3.
        $script:ExchangeAdmin = '29232cdf-9323-42fd-ade2-1d097af3e4de'
        $path = "tenants/$($script:Provider.TenantId)/delegatedAdminRelationships"
        $null = Invoke-Control POST $path @{ customerTenantId = $emu.Tenants[4].TenantId; roleDefinitionIds = @($script:PRA, $script:AppAdmin, $script:ExchangeAdmin) }
        $null = Invoke-Control POST $path @{ customerTenantId = $emu.Tenants[6].TenantId; roleDefinitionIds = @($script:PRA, $script:AppAdmin) }
        Disconnect-Kodo
        # The partner's administrator (delegated), in the provider tenant.
        $script:PartnerAdmin = Connect-Kodo -Environment Emulator -TenantId $script:Provider.TenantId -UseDeviceCode 6>$null
        $script:Customer = $emu.Tenants[4]
    }
    AfterAll {
        Disconnect-Kodo
        $null = Connect-Tenant 0
    }

    It 'the partner admin''s connection is delegated' {
        $script:PartnerAdmin.IdentityKind | Should -Be 'DeviceCode'
        (Test-KodoConsent -AppId $script:App.ClientId -TenantId $script:Customer.TenantId -ClientSecret $script:App.ClientSecret).Status | Should -Be 'NotConsented'
    }

    It '-WhatIf plans the service principal and every application permission, and writes nothing' {
        Clear-Log
        $listed = Get-Allowed $script:Customer
        $r = Grant-KodoConsent -AppId $script:App.ClientId -TenantId $script:Customer.TenantId -WhatIf
        @(Get-GraphWrites).Count | Should -Be 0
        Get-Allowed $script:Customer | Should -Be $listed
        $r.Ews.Status | Should -Be 'NotApproved'
        $r.PSTypeNames | Should -Contain 'Kodo.ConsentGrant'
        $r.Changes.Count | Should -Be 0
        $r.Permissions.Count | Should -BeGreaterThan 0
        @($r.Permissions | Where-Object Status -ne 'WouldGrant').Count | Should -Be 0
        (Test-KodoConsent -AppId $script:App.ClientId -TenantId $script:Customer.TenantId -ClientSecret $script:App.ClientSecret).Status | Should -Be 'NotConsented'
    }

    It 'grants the app its service principal, app roles and EWS access in the customer tenant; Test-KodoConsent proves it Ready' {
        Clear-Log
        $listed = Get-Allowed $script:Customer
        $r = Grant-KodoConsent -AppId $script:App.ClientId -TenantId $script:Customer.TenantId -Confirm:$false
        $r.TenantId | Should -Be $script:Customer.TenantId
        $r.ServicePrincipalId | Should -Not -BeNullOrEmpty
        $r.Changes[0] | Should -Match 'service principal'
        # The service principal, each application permission, and the EWS allow list.
        $r.Changes.Count | Should -Be (2 + $r.Permissions.Count)
        $r.Changes[-1] | Should -Match 'EWS allow list'
        $r.Ews.Status | Should -Be 'Configured'
        $after = Get-Allowed $script:Customer
        $after | Should -Contain $script:App.ClientId
        foreach ($id in $listed) { $after | Should -Contain $id }
        @($r.Permissions | Where-Object Status -ne 'Granted').Count | Should -Be 0
        $r.GdapRoleDefinitionIds | Should -Contain $script:PRA
        # Every write went to the customer tenant, under the partner admin's GDAP token (the log
        # names the tenant of `$batch items; the one plain POST, the service principal, is found
        # in the customer's directory below).
        $writes = @(Get-GraphWrites)
        $writes.Count | Should -Be ($r.Changes.Count - 1)
        @($writes | Where-Object { $_.tenantId -and $_.tenantId -ne $script:Customer.TenantId }).Count | Should -Be 0
        @(Get-Log | Where-Object path -like "/$($script:Customer.TenantId)/oauth2/v2.0/token").Count | Should -BeGreaterThan 0

        $c = Test-KodoConsent -AppId $script:App.ClientId -TenantId $script:Customer.TenantId -ClientSecret $script:App.ClientSecret -EwsMailbox (Get-Mailbox $script:Customer)
        $c.Status | Should -Be 'Ready' -Because $c.Detail
        $c.BackupReady | Should -BeTrue
        $c.GrantedRoles | Should -Be $c.RequiredRoles
        $sp = Invoke-PlainGraph $script:Customer "servicePrincipals(appId='$($script:App.ClientId)')"
        $sp.appOwnerOrganizationId | Should -Be $script:Provider.TenantId
        @(Get-Assignments $script:Customer).Count | Should -Be $c.RequiredRoles
    }

    It 're-run writes nothing and says so' {
        Clear-Log
        $r = Grant-KodoConsent -AppId $script:App.ClientId -TenantId $script:Customer.TenantId -Confirm:$false -Verbose 4>&1
        $out = @($r | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] })[0]
        $verbose = @($r | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }) | Out-String
        @(Get-GraphWrites).Count | Should -Be 0
        $out.Changes.Count | Should -Be 0
        @($out.Permissions | Where-Object Status -ne 'AlreadyPresent').Count | Should -Be 0
        $out.Ews.Status | Should -Be 'AlreadyAllowed'
        $verbose | Should -Match 'nothing to change'
    }

    It 'a relationship without Exchange Administrator: consent granted, the EWS step left to the customer and said so, never green' {
        $customer = $emu.Tenants[6]
        $listed = Get-Allowed $customer
        Clear-Log
        $r = Grant-KodoConsent -AppId $script:App.ClientId -TenantId $customer.TenantId -Confirm:$false -WarningVariable warned -WarningAction SilentlyContinue
        @($r.Permissions | Where-Object Status -ne 'Granted').Count | Should -Be 0
        $r.Ews.Status | Should -Be 'ManualActionRequired'
        $r.Ews.Reason | Should -Match 'Exchange Administrator'
        $r.Ews.Command | Should -Match "Grant-KodoEwsAccess -AppId $($script:App.ClientId)"
        ($warned -join ' ') | Should -Match 'EWS: '
        # No Exchange sign-in or call in the customer's organization, and its list is untouched.
        @(Get-Log | Where-Object path -like '*/InvokeCommand').Count | Should -Be 0
        Get-Allowed $customer | Should -Be $listed
        $c = Test-KodoConsent -AppId $script:App.ClientId -TenantId $customer.TenantId -ClientSecret $script:App.ClientSecret -EwsMailbox (Get-Mailbox $customer)
        $c.Consented | Should -BeTrue
        $c.Status | Should -Be 'EwsNotAdmitted'
        $c.BackupReady | Should -BeFalse
    }

    It 'refuses <Case> with Kodo.GdapAccessDenied naming it, and writes nothing' -ForEach @(
        @{ Case = 'an expired relationship'; Index = 2; Pattern = 'Expired' }
        @{ Case = 'a missing role'; Index = 3; Pattern = 'MissingRoles.*Privileged Role Administrator' }
        @{ Case = 'no relationship'; Index = 5; Pattern = 'NoRelationship' }
    ) {
        $tenant = $emu.Tenants[$Index].TenantId
        Clear-Log
        $err = $null
        try { Grant-KodoConsent -AppId $script:App.ClientId -TenantId $tenant -Confirm:$false -ErrorAction Stop } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -Be 'Kodo.GdapAccessDenied,Grant-KodoConsent'
        $err.CategoryInfo.Category | Should -Be 'PermissionDenied'
        $err.Exception.Message | Should -Match $Pattern
        $err.Exception.Message | Should -Match 'Nothing was changed'
        @(Get-GraphWrites).Count | Should -Be 0
        # Not even a sign-in to the customer tenant.
        @(Get-Log | Where-Object path -like "/$tenant/oauth2/v2.0/token").Count | Should -Be 0
    }

    It 'an app''s connection (client secret) is refused: GDAP needs the admin''s own sign-in' {
        try {
            $null = Connect-Tenant 0
            Clear-Log
            { Grant-KodoConsent -AppId $script:App.ClientId -TenantId $script:Customer.TenantId -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'Kodo.InvalidArgument,Grant-KodoConsent'
            @(Get-GraphWrites).Count | Should -Be 0
        } finally {
            $script:PartnerAdmin = Connect-Kodo -Environment Emulator -TenantId $script:Provider.TenantId -UseDeviceCode 6>$null
        }
    }

    It 'no secret or token in any stream' {
        $all = & {
            Grant-KodoConsent -AppId $script:App.ClientId -TenantId $script:Customer.TenantId -Confirm:$false -Verbose
            Grant-KodoConsent -AppId $script:App.ClientId -TenantId $emu.Tenants[5].TenantId -Confirm:$false -Verbose -ErrorAction Continue
            Grant-KodoConsent -AppId $script:App.ClientId -TenantId $emu.Tenants[5].TenantId -WhatIf -Verbose -ErrorAction Continue
        } *>&1 | Out-String -Width 4096
        $all | Should -Match 'NoRelationship'
        $all | Should -Not -Match ([regex]::Escape($script:SecretText))
        $all | Should -Not -Match 'eyJ[A-Za-z0-9_-]{10,}\.'
        $all | Should -Not -Match 'refresh_token'
    }
}
