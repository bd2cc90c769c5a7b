# CLI for Microsoft 365 (npm @pnp/cli-microsoft365, tests/clients/cli-m365, installed by setup.sh
# into .tools/cli-m365), unmodified, against the tenant emulator through its proxy: sign-in by
# certificate and by secret, app registrations with their permissions, consent, roles and
# service principals, the directory's users, and SharePoint. Each result is checked against the
# emulator's own state (Graph as the bootstrap app, or the control API), not only the exit code.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $m365 = Join-Path $script:RepoRoot '.tools/cli-m365/node_modules/.bin/m365'
    if (-not (Test-Path -LiteralPath $m365)) { throw "$m365 is missing: run ./setup.sh (it installs CLI for Microsoft 365 with npm ci)" }
    # 150 users, groups, applications and service principals: the CLI's lists run past Graph's
    # page of 100 and must follow @odata.nextLink.
    $emulator = Start-TestEmulator -Arguments @('--proxy-listen', '127.0.0.1:0', '--directory-size', '150')
    $info = $emulator.Info
    $t = $info.tenants[0]
    # CLI for Microsoft 365 keeps its connection (and MSAL's token cache) in files under HOME:
    # a folder of this test's own, deleted at the end.
    $cliHome = Join-Path $emulator.Directory 'cli-home'
    New-Item -ItemType Directory -Path $cliHome | Out-Null

    function Invoke-M365 {
        # Runs `m365 <args> --output json`; returns the exit code, the parsed JSON (or $null) and
        # the text written to stderr.
        param([Parameter(ValueFromRemainingArguments)][string[]]$Arguments)
        $psi = New-Object System.Diagnostics.ProcessStartInfo
        $psi.FileName = $m365
        foreach ($a in @($Arguments) + @('--output', 'json')) { $psi.ArgumentList.Add($a) }
        $psi.Environment['HOME'] = $cliHome
        $psi.Environment['HTTPS_PROXY'] = $info.proxy
        $psi.Environment['NO_PROXY'] = ''
        $psi.Environment['NODE_EXTRA_CA_CERTS'] = $info.caCertificate
        $psi.Environment['CLIMICROSOFT365_NOUPDATE'] = '1'
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.UseShellExecute = $false
        $p = [System.Diagnostics.Process]::Start($psi)
        $out = $p.StandardOutput.ReadToEndAsync()
        $err = $p.StandardError.ReadToEndAsync()
        if (-not $p.WaitForExit(120000)) { $p.Kill(); throw "m365 $Arguments did not finish in 120 s" }
        $json = $null
        if ($out.Result.Trim()) { try { $json = $out.Result | ConvertFrom-Json } catch { $json = $null } }
        [pscustomobject]@{ ExitCode = $p.ExitCode; Json = $json; Text = $out.Result; Error = $err.Result }
    }

    function Get-AdminToken {
        $body = @{ grant_type = 'client_credentials'; client_id = $t.bootstrapClientId; client_secret = $t.bootstrapClientSecret; scope = 'https://graph.microsoft.com/.default' }
        (Invoke-RestMethod -Method Post -Uri "$($info.url)/$($t.tenantId)/oauth2/v2.0/token" -Body $body -SkipCertificateCheck).access_token
    }
    function Invoke-EmulatorGraph([string]$Path) {
        # The emulator's state, read as the bootstrap app (not through the CLI); a list is read
        # to its last page.
        $headers = @{ Authorization = "Bearer $(Get-AdminToken)" }
        $r = Invoke-RestMethod -Uri "$($info.url)/v1.0/$Path" -Headers $headers -SkipCertificateCheck
        if (-not $r.PSObject.Properties['value']) { return $r }
        $all = @($r.value)
        while ($r.'@odata.nextLink') {
            $r = Invoke-RestMethod -Uri ($r.'@odata.nextLink' -replace '^https://graph\.microsoft\.com', $info.url) -Headers $headers -SkipCertificateCheck
            $all += @($r.value)
        }
        [pscustomobject]@{ value = $all }
    }
    function Get-Requests {
        @((Invoke-RestMethod -Uri "$($info.url)/_emulator/requests" -SkipCertificateCheck) | ForEach-Object { $_ })
    }
    $appName = 'CLI for Microsoft 365 test app'
}

AfterAll {
    Stop-TestEmulator $emulator
}

Describe 'CLI for Microsoft 365, unmodified, against the emulator' {
    It 'signs in with a client secret and says who it is' {
        # The emulator's throwaway bootstrap secret, passed the only way the CLI takes it.
        $r = Invoke-M365 login --authType secret --appId $t.bootstrapClientId "--secret=$($t.bootstrapClientSecret)" --tenant $t.tenantId
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $s = Invoke-M365 status
        $s.Json.connectedAs | Should -Be 'Kodo emulator bootstrap admin'
        $s.Json.authType | Should -Be 'secret'
        $s.Json.appTenant | Should -Be $t.tenantId
    }

    It 'signs in with a certificate (PEM)' {
        $r = Invoke-M365 login --authType certificate --appId $t.bootstrapClientId --tenant $t.tenantId --certificateFile $t.bootstrapCertificate
        $r.ExitCode | Should -Be 0 -Because $r.Error
        (Invoke-M365 status).Json.authType | Should -Be 'certificate'
    }

    It 'entra app add: an app with application and delegated permissions, admin consent and a secret' {
        $r = Invoke-M365 entra app add --name $appName --apisApplication 'https://graph.microsoft.com/User.Read.All' `
            --apisDelegated 'https://graph.microsoft.com/User.Read' --grantAdminConsent --withSecret
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $script:app = $r.Json
        $r.Json.tenantId | Should -Be $t.tenantId
        $r.Json.secrets[0].value | Should -Not -BeNullOrEmpty
        # In the emulator: the app, its declared permissions, its service principal, the app role
        # assignment and the delegated grant.
        $stored = Invoke-EmulatorGraph "applications(appId='$($r.Json.appId)')"
        $stored.displayName | Should -Be $appName
        $graphAccess = $stored.requiredResourceAccess | Where-Object resourceAppId -eq '00000003-0000-0000-c000-000000000000'
        @($graphAccess.resourceAccess | ForEach-Object type | Sort-Object) | Should -Be @('Role', 'Scope')
        @($stored.passwordCredentials).Count | Should -Be 1
        $sp = (Invoke-EmulatorGraph "servicePrincipals?`$filter=appId eq '$($r.Json.appId)'").value[0]
        $sp | Should -Not -BeNullOrEmpty
        $script:spId = $sp.id
        @((Invoke-EmulatorGraph "servicePrincipals/$($sp.id)/appRoleAssignments").value).Count | Should -Be 1
        (Invoke-EmulatorGraph "oauth2PermissionGrants?`$filter=clientId eq '$($sp.id)'").value[0].scope | Should -Be 'User.Read'
    }

    It 'entra app get and entra app list find it' {
        $g = Invoke-M365 entra app get --name $appName
        $g.ExitCode | Should -Be 0 -Because $g.Error
        $g.Json.appId | Should -Be $script:app.appId
        $l = Invoke-M365 entra app list
        @($l.Json | Where-Object appId -eq $script:app.appId).Count | Should -Be 1
        @($l.Json).Count | Should -Be @((Invoke-EmulatorGraph 'applications?$select=id').value).Count
    }

    It 'entra app set changes the identifier URIs' {
        $r = Invoke-M365 entra app set --appId $script:app.appId --uris 'api://kodo-cli-test'
        $r.ExitCode | Should -Be 0 -Because $r.Error
        (Invoke-EmulatorGraph "applications(appId='$($script:app.appId)')").identifierUris | Should -Be @('api://kodo-cli-test')
    }

    It 'entra app permission list names both permissions' {
        $r = Invoke-M365 entra app permission list --appId $script:app.appId
        $r.ExitCode | Should -Be 0 -Because $r.Error
        @($r.Json | ForEach-Object { "$($_.permission)/$($_.type)" } | Sort-Object) | Should -Be @('User.Read.All/Application', 'User.Read/Delegated')
    }

    It 'entra app permission add declares and consents one more application permission' {
        $r = Invoke-M365 entra app permission add --appId $script:app.appId --applicationPermissions 'https://graph.microsoft.com/Group.Read.All' --grantAdminConsent
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $roles = @((Invoke-EmulatorGraph "servicePrincipals/$($script:spId)/appRoleAssignments").value)
        $roles.Count | Should -Be 2
    }

    It 'entra approleassignment list (servicePrincipals with $expand=appRoleAssignments) lists the consented roles' {
        $r = Invoke-M365 entra approleassignment list --appId $script:app.appId
        $r.ExitCode | Should -Be 0 -Because $r.Error
        @($r.Json | ForEach-Object roleName | Sort-Object) | Should -Be @('Group.Read.All', 'User.Read.All')
        @(Get-Requests | Where-Object { $_.path -eq '/v1.0/servicePrincipals' -and $_.status -eq 501 }) | Should -BeNullOrEmpty
    }

    It 'entra oauth2grant list lists the delegated grant' {
        $r = Invoke-M365 entra oauth2grant list --spObjectId $script:spId
        $r.ExitCode | Should -Be 0 -Because $r.Error
        @($r.Json).Count | Should -Be 1
        $r.Json[0].scope | Should -Be 'User.Read'
        $r.Json[0].consentType | Should -Be 'AllPrincipals'
    }

    It 'entra app role list reads the app''s roles (GET /applications/{id}/appRoles)' {
        $r = Invoke-M365 entra app role list --appId $script:app.appId
        $r.ExitCode | Should -Be 0 -Because $r.Error
        @($r.Json).Count | Should -Be 0
        @(Get-Requests | Where-Object { $_.path -like '*/applications/*/appRoles' -and $_.status -eq 200 }).Count | Should -BeGreaterThan 0
    }

    It 'entra enterpriseapp list and get: the service principals, Microsoft Graph among them' {
        $l = Invoke-M365 entra enterpriseapp list
        $l.ExitCode | Should -Be 0 -Because $l.Error
        @($l.Json).Count | Should -Be @((Invoke-EmulatorGraph 'servicePrincipals?$select=id').value).Count
        $g = Invoke-M365 entra enterpriseapp get --displayName 'Microsoft Graph'
        $g.ExitCode | Should -Be 0 -Because $g.Error
        $g.Json.appId | Should -Be '00000003-0000-0000-c000-000000000000'
    }

    It 'entra user list, with a filter, and entra user get' {
        $all = Invoke-M365 entra user list
        $all.ExitCode | Should -Be 0 -Because $all.Error
        $expected = @((Invoke-EmulatorGraph 'users?$select=userPrincipalName').value | ForEach-Object userPrincipalName | Sort-Object)
        @($all.Json | ForEach-Object userPrincipalName | Sort-Object) | Should -Be $expected
        $members = Invoke-M365 entra user list --type Member --properties 'displayName,userPrincipalName'
        $members.ExitCode | Should -Be 0 -Because $members.Error
        @($members.Json).Count | Should -Be $expected.Count
        $one = Invoke-M365 entra user get --userName "admin@$($t.initialDomain)"
        $one.ExitCode | Should -Be 0 -Because $one.Error
        $one.Json.displayName | Should -Be 'Emulator Admin'
    }

    It 'spo web get reads the root web' {
        $r = Invoke-M365 spo web get --url "https://$($t.sharePointHost)"
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Json.Url | Should -Be "https://$($t.sharePointHost)"
    }

    It 'spo site get reads the root site collection (GET /_api/site)' {
        $r = Invoke-M365 spo site get --url "https://$($t.sharePointHost)"
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Json.Url | Should -Be "https://$($t.sharePointHost)"
        $r.Json.ServerRelativeUrl | Should -Be '/'
        $r.Json.Id | Should -Match '^[0-9a-f-]{36}$'
    }

    It 'spo tenant settings list reads the CSOM Tenant object through contextinfo and ProcessQuery' {
        $r = Invoke-M365 spo tenant settings list
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $state = (Invoke-RestMethod -Uri "$($info.url)/_emulator/state" -SkipCertificateCheck).tenants[0].sharePoint
        $r.Json.LegacyAuthProtocolsEnabled | Should -Be $state.legacyAuthProtocolsEnabled
        $r.Json.DisableCustomAppAuthentication | Should -Be $state.tenantProperties.DisableCustomAppAuthentication
        $r.Json.RootSiteUrl | Should -Be "https://$($t.sharePointHost)"
        $r.Json.SharingCapability | Should -Be 'Disabled' -Because 'the CLI names the integer 0'
        @($r.Json.PSObject.Properties).Count | Should -BeGreaterThan 80
        @(Get-Requests | Where-Object { $_.path -eq '/_api/contextinfo' -and $_.status -eq 200 }).Count | Should -BeGreaterThan 0
    }

    It 'spo tenant settings set changes the Tenant object' {
        $r = Invoke-M365 spo tenant settings set --SharingCapability ExternalUserSharingOnly --DisableCustomAppAuthentication false
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $state = (Invoke-RestMethod -Uri "$($info.url)/_emulator/state" -SkipCertificateCheck).tenants[0].sharePoint
        $state.tenantProperties.SharingCapability | Should -Be 1 -Because 'ExternalUserSharingOnly'
        $state.tenantProperties.DisableCustomAppAuthentication | Should -BeFalse
    }

    It 'entra app remove deletes the app and its service principal' {
        $r = Invoke-M365 entra app remove --appId $script:app.appId --force
        $r.ExitCode | Should -Be 0 -Because $r.Error
        @((Invoke-EmulatorGraph "applications?`$filter=appId eq '$($script:app.appId)'").value).Count | Should -Be 0
        @((Invoke-EmulatorGraph "servicePrincipals?`$filter=appId eq '$($script:app.appId)'").value).Count | Should -Be 0
    }

    It 'entra enterpriseapp add, approleassignment add and remove, enterpriseapp remove: a second app by steps' {
        $r = Invoke-M365 entra app add --name 'CLI second app'
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $second = $r.Json.appId
        $sp = Invoke-M365 entra enterpriseapp add --displayName 'CLI second app'
        $sp.ExitCode | Should -Be 0 -Because $sp.Error
        $spId = (Invoke-EmulatorGraph "servicePrincipals?`$filter=appId eq '$second'").value[0].id
        $sp.Json.id | Should -Be $spId
        $a = Invoke-M365 entra approleassignment add --appId $second --resource 'Microsoft Graph' --scopes 'User.Read.All'
        $a.ExitCode | Should -Be 0 -Because $a.Error
        @((Invoke-EmulatorGraph "servicePrincipals/$spId/appRoleAssignments").value).Count | Should -Be 1
        $d = Invoke-M365 entra approleassignment remove --appId $second --resource 'Microsoft Graph' --scopes 'User.Read.All' --force
        $d.ExitCode | Should -Be 0 -Because $d.Error
        @((Invoke-EmulatorGraph "servicePrincipals/$spId/appRoleAssignments").value).Count | Should -Be 0
        $x = Invoke-M365 entra enterpriseapp remove --id $second --force
        $x.ExitCode | Should -Be 0 -Because $x.Error
        @((Invoke-EmulatorGraph "servicePrincipals?`$filter=appId eq '$second'").value).Count | Should -Be 0
        (Invoke-M365 entra app remove --appId $second --force).ExitCode | Should -Be 0
    }

    It 'entra administrativeunit list, get and member list' {
        $l = Invoke-M365 entra administrativeunit list
        $l.ExitCode | Should -Be 0 -Because $l.Error
        @($l.Json | ForEach-Object displayName) | Should -Contain 'KODO backup pilot'
        $g = Invoke-M365 entra administrativeunit get --displayName 'KODO backup pilot'
        $g.ExitCode | Should -Be 0 -Because $g.Error
        $m = Invoke-M365 entra administrativeunit member list --administrativeUnitName 'KODO backup pilot'
        $m.ExitCode | Should -Be 0 -Because $m.Error
        $expected = @((Invoke-RestMethod -Uri "$($info.url)/_emulator/tenants/$($t.tenantId)/directory" -SkipCertificateCheck).administrativeUnits |
            Where-Object displayName -eq 'KODO backup pilot' | ForEach-Object members | Sort-Object)
        @($m.Json | ForEach-Object userPrincipalName | Sort-Object) | Should -Be $expected
    }

    It 'entra group list (all, Microsoft 365, security) and entra group get: 150 groups over two pages' {
        $all = Invoke-M365 entra group list
        $all.ExitCode | Should -Be 0 -Because $all.Error
        $expected = @((Invoke-EmulatorGraph 'groups?$select=id').value.id | Sort-Object)
        $expected.Count | Should -Be 150
        @($all.Json.id | Sort-Object) | Should -Be $expected
        $unified = Invoke-M365 entra group list --type microsoft365
        $unified.ExitCode | Should -Be 0 -Because $unified.Error
        @($unified.Json.id | Sort-Object) | Should -Be @((Invoke-EmulatorGraph "groups?`$filter=groupTypes/any(c:c eq 'Unified')&`$select=id").value.id | Sort-Object)
        @($unified.Json).Count | Should -Be 75
        $security = Invoke-M365 entra group list --type security
        $security.ExitCode | Should -Be 0 -Because $security.Error
        @($security.Json).Count | Should -Be 75
        @($security.Json | Where-Object { $_.securityEnabled -and -not $_.mailEnabled }).Count | Should -Be 75
        $one = Invoke-M365 entra group get --id $expected[0]
        $one.ExitCode | Should -Be 0 -Because $one.Error
        $one.Json.displayName | Should -Be (Invoke-EmulatorGraph "groups/$($expected[0])").displayName
        $graphGets = @(Get-Requests | Where-Object { $_.method -eq 'GET' -and $_.path -eq '/v1.0/groups' })
        $graphGets.Count | Should -BeGreaterThan 2 -Because 'the CLI followed @odata.nextLink'
    }

    It 'the emulator answered none of its requests with a 5xx (the proxy refuses any host that is not Microsoft''s)' {
        $log = Get-Requests
        $log.Count | Should -BeGreaterThan 20
        @($log | Where-Object { $_.status -ge 500 }) | Should -BeNullOrEmpty
    }
}
