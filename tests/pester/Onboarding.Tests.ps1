# New-KodoApp and Grant-KodoPermissions against the tenant emulator, checked through plain Graph
# calls (not the module): the seed procedure's steps 4-14, re-runs, -WhatIf, bad input,
# replication lag with throttling, and interrupted runs.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $script:ManifestPath -Force
    $emu = Start-KodoEmulator -Tenants 18
    $truth = Import-Csv (Join-Path $script:RepoRoot 'crates/kodo-emulator/fixtures/permissions-truth.csv')

    # Plain Graph, outside Kodo (the test trusts the emulator's self-made CA by skipping the check).
    function Get-PlainToken($Tenant, [string]$ClientId, [string]$Secret) {
        if (-not $ClientId) { $ClientId = $Tenant.BootstrapClientId; $Secret = $Tenant.BootstrapCredential.GetNetworkCredential().Password }
        $body = @{ grant_type = 'client_credentials'; client_id = $ClientId; client_secret = $Secret; scope = 'https://graph.microsoft.com/.default' }
        (Invoke-RestMethod -Method Post -Uri "$($emu.Url)/$($Tenant.TenantId)/oauth2/v2.0/token" -Body $body -SkipCertificateCheck).access_token
    }
    function Invoke-PlainGraph($Tenant, [string]$Path) {
        $token = Get-PlainToken $Tenant
        Invoke-RestMethod -Uri "$($emu.Url)/v1.0/$Path" -Headers @{ Authorization = "Bearer $token" } -SkipCertificateCheck
    }
    function Invoke-PlainWrite($Tenant, [string]$Method, [string]$Path, $Body) {
        $token = Get-PlainToken $Tenant
        $params = @{ Method = $Method; Uri = "$($emu.Url)/v1.0/$Path"; Headers = @{ Authorization = "Bearer $token" }; SkipCertificateCheck = $true }
        if ($Body) { $params["Body"] = ($Body | ConvertTo-Json -Depth 5); $params["ContentType"] = "application/json" }
        Invoke-RestMethod @params
    }
    # Graph writes. (Exchange's admin API takes every cmdlet, Get-* too, as a POST to InvokeCommand:
    # its writes are checked through the emulator's state where it matters.)
    function Get-Writes {
        @((Invoke-RestMethod -Uri "$($emu.Url)/_emulator/requests" -SkipCertificateCheck) | ForEach-Object { $_ } |
            Where-Object { $_.method -in 'POST', 'PATCH', 'DELETE' -and $_.path -notlike '*/oauth2/v2.0/token' -and $_.path -ne '/v1.0/$batch' -and $_.path -notlike '*/InvokeCommand' })
    }
    function Set-Emulator([hashtable]$Settings) {
        $null = Invoke-RestMethod -Method Patch -Uri "$($emu.Url)/_emulator/settings" -Body ($Settings | ConvertTo-Json) -ContentType 'application/json' -SkipCertificateCheck
    }
    function Add-Fault([hashtable]$Rule) {
        $null = Invoke-RestMethod -Method Post -Uri "$($emu.Url)/_emulator/faults" -Body ($Rule | ConvertTo-Json) -ContentType 'application/json' -SkipCertificateCheck
    }

    # Checks a tenant's onboarding through plain Graph calls.
    # Runs $Body in a new non-interactive pwsh signed in to $Tenant (the emulator's endpoint
    # through KODO_EMULATOR).
    function Invoke-ConnectedPwsh($Tenant, [string]$Body) {
        $endpointFile = Join-Path $TestDrive 'emulator.json'
        Set-Content -LiteralPath $endpointFile -Value (@{ url = $emu.Url; caCertificate = $emu.CaCertificate } | ConvertTo-Json)
        $c = $Tenant.BootstrapCredential
        $script = @"
`$ErrorActionPreference = 'Stop'
Import-Module '$($script:ManifestPath)'
`$cred = New-Object System.Management.Automation.PSCredential -ArgumentList @('$($c.UserName)', (ConvertTo-SecureString '$($c.GetNetworkCredential().Password)' -AsPlainText -Force))
`$null = Connect-Kodo -Environment Emulator -TenantId '$($Tenant.TenantId)' -ClientSecretCredential `$cred
$Body
"@
        Invoke-FreshPwsh -Script $script -Environment @{ KODO_EMULATOR = $endpointFile }
    }
    # After a re-run that completed an interrupted one: one Kodo app, the one the re-run reports,
    # holding one secret (the one it delivered, no orphan), and that secret signs in.
    function Assert-OneAppOneSecret($Tenant, $Run) {
        $apps = @((Invoke-PlainGraph $Tenant "applications?`$filter=tags/any(x:x eq 'KodoManaged')").value)
        $apps.Count | Should -Be 1
        $apps[0].appId | Should -Be $Run.ClientId
        @($apps[0].passwordCredentials).Count | Should -Be 1 -Because 'the secret the re-run delivered, and no orphan'
        Get-PlainToken $Tenant $Run.ClientId ([System.Net.NetworkCredential]::new('', $Run.ClientSecret).Password) | Should -Not -BeNullOrEmpty
    }
    function Assert-Onboarded($Tenant, $App) {
        $plainApp = Invoke-PlainGraph $Tenant "applications(appId='$($App.ClientId)')"
        $plainApp.tags | Should -Contain 'KodoManaged'
        $plainApp.signInAudience | Should -Be 'AzureADMyOrg'
        $sp = Invoke-PlainGraph $Tenant "servicePrincipals(appId='$($App.ClientId)')"
        $assignments = @((Invoke-PlainGraph $Tenant "servicePrincipals/$($sp.id)/appRoleAssignments").value)
        $grants = @((Invoke-PlainGraph $Tenant "oauth2PermissionGrants?`$filter=clientId eq '$($sp.id)'").value)
        foreach ($row in $truth | Where-Object { $_.api -ne 'AAD Graph' }) {
            $resource = Invoke-PlainGraph $Tenant "servicePrincipals(appId='$($row.resourceAppId)')?`$select=id"
            if ($row.type -eq 'Application') {
                @($assignments | Where-Object { $_.resourceId -eq $resource.id -and $_.appRoleId -eq $row.id }).Count | Should -Be 1 -Because "$($row.api) $($row.permission) must be assigned once, with id $($row.id)"
            } else {
                $grant = @($grants | Where-Object { $_.resourceId -eq $resource.id -and $_.consentType -eq 'AllPrincipals' })
                $grant.Count | Should -Be 1
                ($grant[0].scope -split ' ') | Should -Contain $row.permission
            }
            $declared = $plainApp.requiredResourceAccess | Where-Object resourceAppId -eq $row.resourceAppId
            @($declared.resourceAccess | Where-Object { $_.id -eq $row.id -and $_.type -eq $(if ($row.type -eq 'Application') { 'Role' } else { 'Scope' }) }).Count | Should -Be 1
        }
        # Distinct application rows of the seed minus Azure AD Graph: 10 Graph, 2 Exchange, 6 SharePoint.
        $assignments.Count | Should -Be 18
        # Retired Azure AD Graph: nothing requested, nothing granted.
        $plainApp.requiredResourceAccess.resourceAppId | Should -Not -Contain '00000002-0000-0000-c000-000000000000'
    }
}

AfterAll {
    Stop-KodoEmulator
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'A full onboarding with the default manifest' {
    BeforeAll {
        $t = Connect-Tenant 0
        $app = New-KodoApp -DisplayName 'KODO for Cloud backup'
        $rows = $app | Grant-KodoPermissions
    }
    It 'returns what KODO asks for' {
        $app.PSTypeNames | Should -Contain 'Kodo.App'
        $app.TenantId | Should -Be $t.TenantId
        $app.ClientId | Should -Match '^[0-9a-f-]{36}$'
        $app.ClientSecret | Should -BeOfType [System.Security.SecureString]
        $app.SecretExpiresOn | Should -BeGreaterThan ([datetime]::UtcNow.AddDays(700))
        ($app | Format-List | Out-String) | Should -Match '(?s)TenantId \(KODO: Tenant ID\).*ClientId \(KODO: Client ID\).*ClientSecret \(KODO: Client secret\)'
    }
    It 'reports every manifest row' {
        $rows.Count | Should -Be 34 -Because '33 table rows and the retired appinv.aspx step'
        @($rows | Where-Object Status -eq 'Granted').Count | Should -Be 28
        @($rows | Where-Object Status -eq 'Retired').Count | Should -Be 5
        $acs = $rows | Where-Object Type -eq 'ACS'
        $acs.Note | Should -Match 'Retired since 2026-04-02.*certificate credential'
        $acs.Note | Should -Match 'missing a certificate credential' -Because 'the app has a secret only'
        @($rows | Where-Object Status -eq 'Duplicate').Count | Should -Be 1
        $aad = $rows | Where-Object { $_.Api -eq 'Azure Active Directory Graph' -and $_.Permission -eq 'User.ReadWrite.All' -and $_.Type -eq 'Application' }
        $aad.Status | Should -Be 'Retired'
        $aad.Id | Should -BeNullOrEmpty -Because 'Azure AD Graph never had this role; it is reported, not invented'
        $aad.Note | Should -Match 'Retired since 2025-08-31'
    }
    It 'is in the tenant, checked through plain Graph calls' {
        Assert-Onboarded $t $app
    }
    It 'gives a secret that signs in' {
        $secret = [System.Net.NetworkCredential]::new('', $app.ClientSecret).Password
        $token = Get-PlainToken $t $app.ClientId $secret
        $claims = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String(($token.Split('.')[1].Replace('-', '+').Replace('_', '/')).PadRight([math]::Ceiling($token.Split('.')[1].Length / 4) * 4, '='))) | ConvertFrom-Json
        $claims.roles | Should -Contain 'Mail.ReadWrite'
        $claims.roles | Should -Contain 'Sites.FullControl.All'
    }
    It 'writes nothing when run again, and says so' {
        Clear-Log
        $again = New-KodoApp -DisplayName 'KODO for Cloud backup' -Verbose 4>&1
        $rows2 = Grant-KodoPermissions -AppId $app.ClientId -Verbose 4>&1
        Get-Writes | Should -BeNullOrEmpty
        ($again | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message | Should -Contain 'The Kodo app is already in place: nothing to change.'
        ($rows2 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message | Should -Contain 'Every permission is already in place: nothing to change.'
        @($rows2 | Where-Object { $_.PSTypeNames -contains 'Kodo.PermissionResult' -and $_.Status -eq 'AlreadyPresent' }).Count | Should -Be 28
        ($again | Where-Object { $_.PSTypeNames -contains 'Kodo.App' }).ClientId | Should -Be $app.ClientId
    }
}

Describe '-WhatIf' {
    It 'prints the plan and writes nothing' {
        $t = Connect-Tenant 1
        Clear-Log
        $out = New-KodoApp -DisplayName 'KODO what-if' -WhatIf 6>&1 | Out-String
        Get-Writes | Should -BeNullOrEmpty
        @((Invoke-PlainGraph $t "applications?`$filter=tags/any(x:x eq 'KodoManaged')").value).Count | Should -Be 0
        $app = New-KodoApp -DisplayName 'KODO what-if'
        Clear-Log
        $rows = Grant-KodoPermissions -AppId $app.ClientId -WhatIf
        Get-Writes | Should -BeNullOrEmpty
        @($rows | Where-Object Status -eq 'WouldGrant').Count | Should -Be 28
        @((Invoke-PlainGraph $t "servicePrincipals/$($app.ServicePrincipalId)/appRoleAssignments").value).Count | Should -Be 0
    }
}

Describe 'Bad input fails before any write' {
    BeforeAll { $t = Connect-Tenant 2 }
    It 'a manifest row the tenant does not offer (a typo)' {
        $app = New-KodoApp -DisplayName 'KODO typo'
        $manifest = Join-Path $TestDrive 'typo.json'
        @{ schema = 1; permissions = @(
                @{ resourceAppId = '00000003-0000-0000-c000-000000000000'; permission = 'User.Read.All'; type = 'Application' }
                @{ resourceAppId = '00000003-0000-0000-c000-000000000000'; permission = 'Mail.Raed'; type = 'Application' }
            ) } | ConvertTo-Json -Depth 5 | Set-Content $manifest
        Clear-Log
        { Grant-KodoPermissions -AppId $app.ClientId -ManifestPath $manifest } | Should -Throw -ErrorId 'Kodo.InvalidArgument,Grant-KodoPermissions' -ExpectedMessage '*Nothing was changed*Mail.Raed*'
        Get-Writes | Should -BeNullOrEmpty
    }
    It 'a malformed manifest' {
        $manifest = Join-Path $TestDrive 'bad.json'
        '{ "schema": 1, "permissions": [ { "resourceAppId": "graph", "permission": "User.Read.All", "type": "Application" } ] }' | Set-Content $manifest
        { Grant-KodoPermissions -AppId ([guid]::NewGuid()) -ManifestPath $manifest } | Should -Throw -ErrorId 'Kodo.InvalidArgument,Grant-KodoPermissions' -ExpectedMessage '*not a GUID*'
        'not json' | Set-Content $manifest
        { Grant-KodoPermissions -AppId ([guid]::NewGuid()) -ManifestPath $manifest } | Should -Throw -ErrorId 'Kodo.InvalidArgument,Grant-KodoPermissions'
    }
    It 'an unknown app id' {
        { Grant-KodoPermissions -AppId ([guid]::NewGuid()) } | Should -Throw -ErrorId 'Kodo.NotFound,Grant-KodoPermissions'
        { New-KodoApp -AppId ([guid]::NewGuid()) } | Should -Throw -ErrorId 'Kodo.NotFound,New-KodoApp'
    }
    It 'a display name Entra would refuse, and an out-of-range secret lifetime' {
        Clear-Log
        { New-KodoApp -DisplayName ('x' * 257) } | Should -Throw -ErrorId 'Kodo.InvalidArgument,New-KodoApp'
        { New-KodoApp -DisplayName 'ok' -SecretLifetime 731 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,New-KodoApp'
        Get-Writes | Should -BeNullOrEmpty
    }
    It 'two apps carrying Kodo''s tag: an error naming both' {
        $token = Get-PlainToken $t
        foreach ($n in 'first', 'second') {
            $null = Invoke-RestMethod -Method Post -Uri "$($emu.Url)/v1.0/applications" -Headers @{ Authorization = "Bearer $token" } -Body (@{ displayName = "Kodo $n"; tags = @('KodoManaged') } | ConvertTo-Json) -ContentType 'application/json' -SkipCertificateCheck
        }
        { New-KodoApp -DisplayName 'x' } | Should -Throw -ExpectedMessage '*Kodo first*Kodo second*-AppId*'
        Clear-Log
        { Invoke-KodoOnboarding -Environment Emulator -Confirm:$false } | Should -Throw -ErrorId 'Kodo.AlreadyExists,Invoke-KodoOnboarding' -ExpectedMessage '*Kodo first*Kodo second*'
        Get-Writes | Should -BeNullOrEmpty
    }
}

Describe 'Replication lag and throttling' {
    It 'onboards with --replication-lag-ms 5000 --throttle-rate 0.2' {
        $t = Connect-Tenant 3
        Set-Emulator @{ replicationLagMs = 5000; throttleRate = 0.2 }
        try {
            $app = New-KodoApp -DisplayName 'KODO under lag'
            $rows = $app | Grant-KodoPermissions
        } finally {
            Set-Emulator @{ replicationLagMs = 0; throttleRate = 0.0 }
        }
        @($rows | Where-Object Status -eq 'Granted').Count | Should -Be 28
        Start-Sleep -Seconds 6   # the new objects replicate (the lag also applies to these plain reads)
        Assert-Onboarded $t $app
    }
    It 'clears the delivered secret''s mark though a read of the app answers 503 once' {
        # The delivery confirmation reads the app's tags before it writes them; that read (a GET,
        # safe to repeat) is retried after a server error. It was not (a GET sent with the
        # replication-lag mode), so one 503 left the mark on a Succeeded run and the next run
        # replaced the secret the admin held (Faults.Tests' long tier, seeds 59 and 103).
        $t = Connect-Tenant 17
        Add-Fault @{ method = 'GET'; pathContains = '/v1.0/applications/'; status = 503; count = 1 }
        try {
            $r = Invoke-KodoOnboarding -Confirm:$false -SkipAudit -WarningVariable warned -WarningAction SilentlyContinue
        } finally {
            $null = Invoke-Control DELETE 'faults'
        }
        $r.Status | Should -Be 'Succeeded'
        "$warned" | Should -Not -Match 'could not record'
        $hit = @(Get-Log | Where-Object { $_.method -eq 'GET' -and $_.path -like '*/applications/*' -and $_.status -eq 503 })
        $hit.Count | Should -Be 1 -Because 'the fault was met'
        $app = Invoke-PlainGraph $t "applications(appId='$($r.ClientId)')?`$select=tags"
        @($app.tags) | Should -Be @('KodoManaged') -Because 'no mark of an undelivered secret is left'
        Assert-OneAppOneSecret $t $r
    }
}

Describe 'An interrupted run is completed by a re-run' {
    It 'no duplicate app when the answer to its creation is lost' {
        $t = Connect-Tenant 4
        # The app is created by its unique name (Graph's upsert): when the answer is lost, a read
        # by that name tells whether the app was made, and the run carries on with it.
        Add-Fault @{ method = 'PATCH'; pathContains = "/v1.0/applications(uniqueName="; dropResponse = $true; count = 1 }
        $app = New-KodoApp -DisplayName 'KODO lost answer'
        @((Invoke-PlainGraph $t "applications?`$filter=tags/any(x:x eq 'KodoManaged')").value).Count | Should -Be 1 -Because 'the app was created once; only the answer was lost'
        $app.ServicePrincipalId | Should -Not -BeNullOrEmpty
        $app.ClientSecret | Should -Not -BeNullOrEmpty
        $again = New-KodoApp -DisplayName 'KODO lost answer'
        $again.ClientId | Should -Be $app.ClientId -Because 'a re-run finds it by its tag'
        @((Invoke-PlainGraph $t "applications?`$filter=tags/any(x:x eq 'KodoManaged')").value).Count | Should -Be 1
    }
    It 'a run stopped right after creating the app, run again at once in the same session while the app replicates, carries on with that app' {
        # Under replication lag the tag does not find the new app, and the re-run's create by
        # Kodo's unique name meets it. Made in the second the re-run started (createdDateTime has
        # whole seconds), it was taken for another run's, running now: Kodo.AlreadyExists, though
        # the run that made it had ended in this very session (a runbook that retries at once
        # never converged; Faults.Tests seed 12 met it).
        $t = Connect-Tenant 14
        Set-Emulator @{ replicationLagMs = 3000 }
        # The first $batch after the create (the service principal and the secret) fails: the run stops.
        Add-Fault @{ method = 'POST'; pathContains = '/v1.0/$batch'; status = 503; skip = 1; count = 1 }
        try {
            # Early in a second: the re-run starts in the second the app was made.
            while ([datetime]::UtcNow.Millisecond -gt 100) { Start-Sleep -Milliseconds 5 }
            { Invoke-KodoOnboarding -Confirm:$false -SkipAudit } | Should -Throw -ErrorId 'Kodo.ServiceError,Invoke-KodoOnboarding'
            $r = Invoke-KodoOnboarding -Confirm:$false -SkipAudit -WarningVariable warned -WarningAction SilentlyContinue
        } finally {
            Set-Emulator @{ replicationLagMs = 0 }
            $null = Invoke-Control DELETE 'faults'
        }
        $r.Status | Should -Be 'Succeeded'
        "$warned" | Should -Match 'made by a run of this session that has ended'
        Start-Sleep -Milliseconds 3200   # what was written under lag replicates
        Assert-OneAppOneSecret $t $r
    }
    It "a run stopped right after creating the app, run again from a new process while the app replicates, carries on with it though this machine's clock is two minutes behind Microsoft's" {
        # Whether the app the re-run's create meets was made after the re-run looked for it is
        # judged on the clock that stamped its createdDateTime (Graph's Date header), not on this
        # machine's: with this machine two minutes behind, an interrupted run's app looked made
        # after the re-run looked (another run's, running now) and the re-run stopped with
        # Kodo.AlreadyExists for as long as the clocks stayed apart.
        $t = $emu.Tenants[15]
        $offset = (Invoke-Control GET 'settings').clockOffsetMs
        Set-Emulator @{ replicationLagMs = 12000; clockOffsetMs = $offset + 120000 }
        # The first $batch after the create (the service principal and the secret) fails: the run stops.
        Add-Fault @{ method = 'POST'; pathContains = '/v1.0/$batch'; status = 503; skip = 1; count = 1 }
        try {
            $child = Invoke-ConnectedPwsh $t 'try { Invoke-KodoOnboarding -Confirm:$false -SkipAudit } catch { "error id=$($_.FullyQualifiedErrorId)" }'
            $child.StdOut | Should -Match 'error id=Kodo\.ServiceError' -Because $child.StdErr
            # Past the second the app was made in (createdDateTime and Date have whole seconds),
            # well within the replication lag: the tag does not find the app yet.
            Start-Sleep -Milliseconds 2500
            $null = Connect-Tenant 15
            $r = Invoke-KodoOnboarding -Confirm:$false -SkipAudit -WarningVariable warned -WarningAction SilentlyContinue
            $r.Status | Should -Be 'Succeeded'
            "$warned" | Should -Match 'made moments ago by an interrupted run' -Because 'the re-run met the app under its unique name'
            Start-Sleep -Milliseconds 12200   # what was written under lag replicates
            # Still on Microsoft's clock: the secret starts at the time Graph made it.
            Assert-OneAppOneSecret $t $r
        } finally {
            Set-Emulator @{ replicationLagMs = 0; clockOffsetMs = $offset }
            $null = Invoke-Control DELETE 'faults'
        }
    }
    It "a secret that has expired on Microsoft's clock, though not on this machine's (two minutes behind), fails the audit and is replaced by a re-run, whose audit then passes" {
        # Entra refuses a secret past its end by its own clock. On this machine's, the secret
        # still looked valid: the audit passed it and the re-run made no new one, so a green run
        # left KODO with a secret that no longer signs in.
        $t = Connect-Tenant 16
        $offset = (Invoke-Control GET 'settings').clockOffsetMs
        Set-Emulator @{ clockOffsetMs = $offset + 120000 }
        try {
            $first = Invoke-KodoOnboarding -Confirm:$false -SkipAudit
            $first.Status | Should -Be 'Succeeded'
            # Through plain Graph: the app's secret swapped for one that ends 5 s from now, on Microsoft's clock.
            $app = Invoke-PlainGraph $t "applications(appId='$($first.ClientId)')?`$select=id,passwordCredentials"
            $end = [datetime]::UtcNow.AddMilliseconds($offset + 120000).AddSeconds(5).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'")
            $null = Invoke-PlainWrite $t POST "applications/$($app.id)/addPassword" @{ passwordCredential = @{ displayName = 'ends in 5 s'; endDateTime = $end } }
            foreach ($c in @($app.passwordCredentials)) {
                $null = Invoke-PlainWrite $t POST "applications/$($app.id)/removePassword" @{ keyId = $c.keyId }
            }
            Start-Sleep -Seconds 7
            $valid = Test-KodoApp -AppId $first.ClientId | Where-Object { $_.Area -eq 'Credential' -and $_.Check -eq 'Any valid credential' }
            $valid.Status | Should -Be 'Fail' -Because 'the only secret has expired on the clock Entra signs in by'
            $r = Invoke-KodoOnboarding -Confirm:$false -SkipAudit
            $r.Status | Should -Be 'Succeeded'
            $r.ClientSecret | Should -Not -BeNullOrEmpty -Because 'the re-run makes a secret that works'
            Get-PlainToken $t $r.ClientId ([System.Net.NetworkCredential]::new('', $r.ClientSecret).Password) | Should -Not -BeNullOrEmpty
            # The secret it replaced is left (Kodo removes a credential only when asked): it signs
            # nothing in and stops nothing, so the nightly run's audit passes and says how to remove it.
            $again = Invoke-KodoOnboarding -Confirm:$false
            $again.Status | Should -Be 'Succeeded'
            $again.Changes | Should -BeNullOrEmpty
            $again.AuditPassed | Should -BeTrue -Because 'an expired secret beside a valid one is not a reason KODO cannot sign in'
            $old = @($again.Audit | Where-Object Check -eq 'Client secret ends in 5 s')
            $old.Count | Should -Be 1
            $old[0].Status | Should -Be 'Warn'
            $old[0].Detail | Should -Match "^Expired on .*Remove-KodoAppCredential -AppId $($r.ClientId) -KeyId [0-9a-f-]{36}$"
        } finally {
            Set-Emulator @{ clockOffsetMs = $offset }
        }
    }
    It 'after the connection drops while granting consent' {
        $t = Connect-Tenant 5
        $app = New-KodoApp -DisplayName 'KODO interrupted'
        Add-Fault @{ method = 'POST'; pathContains = '/v1.0/oauth2PermissionGrants'; dropConnection = $true; count = 1 }
        Add-Fault @{ method = 'POST'; pathContains = '/v1.0/oauth2PermissionGrants'; status = 503; count = 2 }
        { $app | Grant-KodoPermissions } | Should -Throw -ErrorId 'Kodo.ConnectionFailed,Grant-KodoPermissions'
        $rows = $app | Grant-KodoPermissions
        # The writes go 20 to a $batch: the 18 app role assignments and the Graph delegated grant
        # (4 scopes) went in the first one; the SharePoint grant (6 scopes) went alone and its
        # connection dropped.
        @($rows | Where-Object Status -eq 'AlreadyPresent').Count | Should -Be 22 -Because 'what the first $batch granted before the drop is found'
        @($rows | Where-Object Status -eq 'Granted').Count | Should -Be 6 -Because 'the SharePoint delegated grant is made now, through two 503s'
        Assert-Onboarded $t $app
    }
}

Describe "README's first command" {
    It 'examples/Try-Kodo.ps1 onboards the embedded emulator in one go, and a re-run changes nothing' {
        $r = Invoke-FreshPwsh -Script "& '$(Join-Path $script:RepoRoot 'examples/Try-Kodo.ps1')'"
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.StdOut | Should -Match 'Tenant ID\s*:\s*[0-9a-f-]{36}'
        $r.StdOut | Should -Match '28 AlreadyPresent'
        $r.StdOut | Should -Match 'Status\s*:\s*Configured'
        $r.StdOut | Should -Match 'AlreadyAllowed'
        $r.StdErr | Should -BeNullOrEmpty
    }
}

Describe 'A certificate credential' {
    It 'is generated, uploaded, returned only as a password-protected PFX, and signs in' {
        $t = Connect-Tenant 6
        $password = ConvertTo-SecureString 'Pfx-Passw0rd!' -AsPlainText -Force
        $pfxPath = Join-Path $TestDrive 'kodo.pfx'
        $app = New-KodoApp -DisplayName 'KODO with certificate' -NewCertificate -CertificatePassword $password -CertificatePath $pfxPath
        $app.CertificateThumbprint | Should -Match '^[0-9A-F]{40}$'
        $app.CertificatePfxPath | Should -Be $pfxPath
        $loaded = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList @($pfxPath, $password)
        $loaded.Thumbprint | Should -Be $app.CertificateThumbprint
        $loaded.HasPrivateKey | Should -BeTrue
        { New-Object System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList @($pfxPath, 'wrong') } | Should -Throw
        if (-not $IsWindows) { [System.IO.File]::GetUnixFileMode($pfxPath) | Should -Be ([System.IO.UnixFileMode]'UserRead, UserWrite') }
        $plainApp = Invoke-PlainGraph $t "applications(appId='$($app.ClientId)')"
        $plainApp.keyCredentials.customKeyIdentifier | Should -Contain $app.CertificateThumbprint
        # The app signs in with it (the emulator checks the assertion against the uploaded key).
        $c = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $app.ClientId -CertificatePath $pfxPath -CertificatePassword $password
        $c.IdentityKind | Should -Be 'Certificate'
        $null = Connect-Tenant 6
        # Adding the same certificate again changes nothing.
        Clear-Log
        $again = New-KodoApp -AppId $app.ClientId -Certificate $loaded
        Get-Writes | Should -BeNullOrEmpty
        $again.Changes | Should -BeNullOrEmpty
    }
    It 'refuses -NewCertificate without a password, before any write' {
        $null = Connect-Tenant 6
        Clear-Log
        { New-KodoApp -DisplayName 'KODO no password' -NewCertificate } | Should -Throw -ErrorId 'Kodo.InvalidArgument,New-KodoApp'
        Get-Writes | Should -BeNullOrEmpty
    }
}

Describe 'Remove-KodoApp' {
    It 'removes the app, its service principal and its grants; -WhatIf and a re-run change nothing' {
        $t = Connect-Tenant 7
        $app = New-KodoApp -DisplayName 'KODO to remove' -Confirm:$false
        $null = $app | Grant-KodoPermissions
        $sp = Invoke-PlainGraph $t "servicePrincipals(appId='$($app.ClientId)')"
        Clear-Log
        Remove-KodoApp -AppId $app.ClientId -WhatIf
        Get-Writes | Should -BeNullOrEmpty
        Remove-KodoApp -AppId $app.ClientId -Force
        { Invoke-PlainGraph $t "applications(appId='$($app.ClientId)')" } | Should -Throw
        { Invoke-PlainGraph $t "servicePrincipals(appId='$($app.ClientId)')" } | Should -Throw
        @((Invoke-PlainGraph $t "oauth2PermissionGrants?`$filter=clientId eq '$($sp.id)'").value).Count | Should -Be 0
        Clear-Log
        $warnings = Remove-KodoApp -AppId $app.ClientId -Force 3>&1
        Get-Writes | Should -BeNullOrEmpty
        "$warnings" | Should -Match 'nothing to remove'
    }
}

Describe 'Test-KodoApp' {
    BeforeAll {
        $t = Connect-Tenant 8
        $null = Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $false
        $app = New-KodoApp -DisplayName 'KODO audited' -SecretLifetime 365
        $null = $app | Grant-KodoPermissions
        $null = $app | Grant-KodoEwsAccess
        $sp = Invoke-PlainGraph $t "servicePrincipals(appId='$($app.ClientId)')"
    }
    It 'passes on a freshly onboarded tenant' {
        $all = Test-KodoApp -AppId $app.ClientId -Detailed -InformationVariable shown 6>$null
        @($all | ForEach-Object { $_.PSTypeNames[0] } | Sort-Object -Unique) | Should -Be @('Kodo.AppCheck') -Because 'one object type per call'
        "$shown" | Should -Match 'passed \(0 failed'
        $summary = Test-KodoApp -AppId $app.ClientId -Detailed -Summary 6>$null
        @($summary).Count | Should -Be 1
        $summary.PSTypeNames[0] | Should -Be 'Kodo.AppTestSummary'
        $summary.Passed | Should -BeTrue -Because (($all | Where-Object Status -eq 'Fail' | ForEach-Object { "$($_.Check): $($_.Detail)" }) -join '; ')
        $summary.Checks | Should -Be @($all).Count
        @($summary.Findings).Count | Should -Be @($all).Count
        @($all | Where-Object { $_.Area -eq 'Permission' -and $_.Status -eq 'Pass' }).Count | Should -Be 28
        ($all | ConvertTo-Json -Depth 3) | Should -Not -BeNullOrEmpty
    }
    It 'flags a removed app role assignment' {
        $graphSp = Invoke-PlainGraph $t "servicePrincipals(appId='00000003-0000-0000-c000-000000000000')?`$select=id"
        $a = (Invoke-PlainGraph $t "servicePrincipals/$($sp.id)/appRoleAssignments").value | Where-Object { $_.resourceId -eq $graphSp.id } | Select-Object -First 1
        Invoke-PlainWrite $t DELETE "servicePrincipals/$($graphSp.id)/appRoleAssignedTo/$($a.id)"
        $r = Test-KodoApp -AppId $app.ClientId
        ($r | Where-Object { $_.Area -eq 'Permission' -and $_.Status -eq 'Fail' }).Detail | Should -Match 'consent is missing'
        (Test-KodoApp -AppId $app.ClientId -Summary).Passed | Should -BeFalse
        $null = $app | Grant-KodoPermissions
    }
    It 'flags a revoked delegated grant' {
        $g = (Invoke-PlainGraph $t "oauth2PermissionGrants?`$filter=clientId eq '$($sp.id)'").value | Select-Object -First 1
        Invoke-PlainWrite $t DELETE "oauth2PermissionGrants/$($g.id)"
        @(Test-KodoApp -AppId $app.ClientId | Where-Object { $_.Area -eq 'Permission' -and $_.Status -eq 'Fail' }).Count | Should -BeGreaterThan 0
        $null = $app | Grant-KodoPermissions
    }
    It 'warns about a secret expiring in 5 days' {
        $end = [datetime]::UtcNow.AddDays(5).ToString('yyyy-MM-ddTHH:mm:ssZ')
        $null = Invoke-PlainWrite $t POST "applications/$($app.ObjectId)/addPassword" @{ passwordCredential = @{ displayName = 'short-lived'; endDateTime = $end } }
        $warn = Test-KodoApp -AppId $app.ClientId | Where-Object { $_.Area -eq 'Credential' -and $_.Status -eq 'Warn' }
        $warn.Check | Should -Match 'short-lived'
        $warn.Detail | Should -Match '\(4 days\)|\(5 days\)'
    }
    It 'warns when the retired LegacyAuthProtocolsEnabled is on, and passes when it is off' {
        $null = Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $true -WarningVariable warned -WarningAction SilentlyContinue
        $warned | Should -Match 'retired.*2026-05-01.*MC1184649'
        $check = Test-KodoApp -AppId $app.ClientId | Where-Object { $_.Area -eq 'SharePoint' }
        $check.Status | Should -Be 'Warn'
        $check.Detail | Should -Match 'step 17 is retired.*2026-05-01'
        (Test-KodoApp -AppId $app.ClientId -Summary).Passed | Should -BeTrue
        $null = Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $false
        (Test-KodoApp -AppId $app.ClientId -Detailed | Where-Object { $_.Area -eq 'SharePoint' }).Status | Should -Be 'Pass'
    }
    Context 'live sign-in as the app' {
        BeforeAll {
            $pfxPassword = ConvertTo-SecureString 'Live-Pfx-Passw0rd!' -AsPlainText -Force
            $pfxPath = Join-Path $TestDrive 'live.pfx'
            $null = New-KodoApp -AppId $app.ClientId -NewCertificate -CertificatePassword $pfxPassword -CertificatePath $pfxPath
        }
        It 'signs in with the secret and the certificate, checks the roles in each token and reads from Graph and SharePoint' {
            Clear-Log
            $all = $app | Test-KodoApp -Live -CertificatePath $pfxPath -CertificatePassword $pfxPassword -Detailed -Verbose 4>&1
            $verbose = @($all | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] })
            $checks = @($all | Where-Object { $_.PSTypeNames -contains 'Kodo.AppCheck' -and $_.Area -eq 'SignIn' })
            $thumbprint = (New-Object System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList @($pfxPath, $pfxPassword)).Thumbprint
            foreach ($api in 'Microsoft Graph', 'Exchange Online', 'SharePoint') {
                foreach ($label in 'Client secret', "Certificate $thumbprint") {
                    ($checks | Where-Object Check -eq "Sign-in to $api ($label)").Status | Should -Be 'Pass' -Because "$api with $label"
                }
            }
            ($checks | Where-Object Check -eq 'Call Microsoft Graph (Client secret)').Status | Should -Be 'Pass'
            ($checks | Where-Object Check -eq "Call SharePoint (Certificate $thumbprint)").Status | Should -Be 'Pass'
            # SharePoint refuses the secret's app-only token; the certificate reached it, so this is expected.
            $refused = $checks | Where-Object Check -eq 'Call SharePoint (Client secret)'
            $refused.Status | Should -Be 'Info'
            @($all | Where-Object { $_.PSTypeNames -contains 'Kodo.AppTestSummary' }) | Should -BeNullOrEmpty -Because 'the summary is not mixed into the checks'
            @($all | Where-Object { $_.PSTypeNames -contains 'Kodo.AppCheck' -and $_.Status -eq 'Fail' }) | Should -BeNullOrEmpty
            # The harmless reads went to the emulator, signed in as the app (not the admin).
            $log = @((Invoke-RestMethod -Uri "$($emu.Url)/_emulator/requests" -SkipCertificateCheck) | ForEach-Object { $_ })
            @($log | Where-Object { $_.path -like '/v1.0/organization*' -and $_.clientId -eq $app.ClientId }).Count | Should -Be 2
            @($log | Where-Object { $_.path -like '*/_api/web*' -and $_.clientId -eq $app.ClientId }).Count | Should -BeGreaterOrEqual 1
            Get-Writes | Should -BeNullOrEmpty
            # The secret appears nowhere in what the command wrote.
            $plain = [System.Net.NetworkCredential]::new('', $app.ClientSecret).Password
            ($all | Out-String) + ($verbose | Out-String) | Should -Not -Match ([regex]::Escape($plain))
        }
        It 'signs in as the app alongside the audit''s own reads, not after them' {
            # The audit's Graph $batch is held back 1.5 s: the app's sign-ins and harmless reads,
            # which do not depend on it, are done meanwhile (the log is in order of completion).
            $null = Invoke-Control DELETE 'faults'
            Add-Fault @{ method = 'POST'; pathContains = '/v1.0/$batch'; delayMs = 1500; count = 1 }
            Clear-Log
            try {
                $checks = @($app | Test-KodoApp -Live -CertificatePath $pfxPath -CertificatePassword $pfxPassword -Detailed)
            } finally {
                $null = Invoke-Control DELETE 'faults'
            }
            @($checks | Where-Object Status -eq 'Fail') | Should -BeNullOrEmpty
            @($checks | Where-Object { $_.Area -eq 'SignIn' -and $_.Status -eq 'Pass' }).Count | Should -Be 9
            $log = @(Get-Log)
            $batch = @(for ($i = 0; $i -lt $log.Count; $i++) { if ($log[$i].path -eq '/v1.0/$batch') { $i } })[0]
            $asApp = @(for ($i = 0; $i -lt $log.Count; $i++) {
                    if ($log[$i].clientId -eq $app.ClientId -and ($log[$i].path -like '/v1.0/organization*' -or $log[$i].path -like '*/_api/web*')) { $i }
                })
            $asApp.Count | Should -Be 4 -Because 'Graph and SharePoint, with the secret and with the certificate'
            $asApp | ForEach-Object { $_ | Should -BeLessThan $batch -Because 'the app''s reads do not wait for the audit''s' }
        }
        It 'fails the secret-only run on SharePoint with a warning that says why' {
            $r = @($app | Test-KodoApp -Live -Detailed)
            $refused = $r | Where-Object Check -eq 'Call SharePoint (Client secret)'
            $refused.Status | Should -Be 'Warn'
            $refused.Detail | Should -Match 'Unsupported app only token'
        }
        It 'names the role a token lacks after an app role assignment is removed' {
            $exchangeSp = Invoke-PlainGraph $t "servicePrincipals(appId='00000002-0000-0ff1-ce00-000000000000')?`$select=id,appRoles"
            $roleId = ($exchangeSp.appRoles | Where-Object value -eq 'full_access_as_app').id
            $a = (Invoke-PlainGraph $t "servicePrincipals/$($sp.id)/appRoleAssignments").value | Where-Object { $_.appRoleId -eq $roleId }
            Invoke-PlainWrite $t DELETE "servicePrincipals/$($exchangeSp.id)/appRoleAssignedTo/$($a.id)"
            $r = @(Test-KodoApp -AppId $app.ClientId -CertificatePath $pfxPath -CertificatePassword $pfxPassword)
            $failed = $r | Where-Object { $_.Area -eq 'SignIn' -and $_.Status -eq 'Fail' }
            $failed.Check | Should -Match '^Sign-in to Exchange Online \(Certificate [0-9A-F]{40}\)$'
            $failed.Detail | Should -Match 'full_access_as_app'
            $null = $app | Grant-KodoPermissions
        }
        It 'reports a wrong secret as a failed sign-in with the AADSTS code' {
            $wrong = ConvertTo-SecureString 'not-the-secret' -AsPlainText -Force
            $r = @(Test-KodoApp -AppId $app.ClientId -ClientSecret $wrong)
            $failed = @($r | Where-Object { $_.Area -eq 'SignIn' -and $_.Status -eq 'Fail' })
            $failed.Count | Should -Be 1
            $failed[0].Detail | Should -Match 'AADSTS7000215'
        }
        It 'refuses a sign-in credential of another app before anything is sent, even with one of this app given first' {
            # Test-KodoApp always names the app's own id; the library checks the request anyway.
            $other = [guid]::NewGuid().ToString()
            $plain = [System.Net.NetworkCredential]::new('', $app.ClientSecret).Password
            Clear-Log
            $err = $null
            try {
                & (Get-Module Kodo) {
                    param($AppId, $Other, $Secret)
                    Invoke-KodoNative -Request ([ordered]@{ kind = 'app.test'; appId = $AppId; manifest = (Get-KodoManifest); warnDays = 30
                        signIn = @([ordered]@{ kind = 'clientSecret'; clientId = $AppId; secret = $Secret }, [ordered]@{ kind = 'clientSecret'; clientId = $Other; secret = 'not-a-secret' }) })
                } $app.ClientId $other $plain
            } catch { $err = $_ }
            $err | Should -Not -BeNullOrEmpty
            $err.FullyQualifiedErrorId | Should -BeLike 'Kodo.InvalidArgument*'
            $err.Exception.Message | Should -Match "client id $other, not for the app"
            # Nothing was sent: no read of the audit, no sign-in as the app.
            @(Get-Log) | Should -BeNullOrEmpty -Because 'the credentials are checked before anything is sent'
        }
        It 'refuses -Live without a credential, and two certificate sources' {
            { Test-KodoApp -AppId $app.ClientId -Live } | Should -Throw -ErrorId 'Kodo.NoSignInCredential,Test-KodoApp'
            { Test-KodoApp -AppId $app.ClientId -CertificatePath $pfxPath -CertificateThumbprint ('A' * 40) } | Should -Throw -ErrorId 'Kodo.TooManyCertificates,Test-KodoApp'
        }
    }
}

Describe 'Credential rotation' {
    It 'leaves a working credential at every moment' {
        $t = Connect-Tenant 9
        $app = New-KodoApp -DisplayName 'KODO rotated'
        $old = [System.Net.NetworkCredential]::new('', $app.ClientSecret).Password
        { Get-PlainToken $t $app.ClientId $old } | Should -Not -Throw
        $rotated = Update-KodoAppCredential -AppId $app.ClientId
        $new = [System.Net.NetworkCredential]::new('', $rotated.ClientSecret).Password
        $new | Should -Not -Be $old
        { Get-PlainToken $t $app.ClientId $old } | Should -Not -Throw -Because 'the old secret keeps working until removed'
        { Get-PlainToken $t $app.ClientId $new } | Should -Not -Throw
        Remove-KodoAppCredential -AppId $app.ClientId -KeyId $app.SecretKeyId -Force
        { Get-PlainToken $t $app.ClientId $old } | Should -Throw
        { Get-PlainToken $t $app.ClientId $new } | Should -Not -Throw
        # -RemoveOld: the new one works, every earlier one is gone.
        $third = Update-KodoAppCredential -AppId $app.ClientId -RemoveOld -Confirm:$false
        $third3 = [System.Net.NetworkCredential]::new('', $third.ClientSecret).Password
        { Get-PlainToken $t $app.ClientId $third3 } | Should -Not -Throw
        { Get-PlainToken $t $app.ClientId $new } | Should -Throw
        # A re-run of the removal changes nothing.
        Clear-Log
        Remove-KodoAppCredential -AppId $app.ClientId -KeyId $app.SecretKeyId -Force 3>$null
        Get-Writes | Should -BeNullOrEmpty
    }
}

Describe 'Invoke-KodoOnboarding on a new tenant' {
    BeforeAll {
        $t = Connect-Tenant 10
        $null = Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $false
        Disconnect-Kodo | Out-Null
    }
    It 'shows the whole plan under -WhatIf, consents included, and writes nothing' {
        Clear-Log
        $r = Invoke-ConnectedPwsh $t @"
`$r = Invoke-KodoOnboarding -Environment Emulator -WhatIf
"returned=`$(@(`$r).Count)"
"@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.StdOut | Should -Match 'What if: .*Create app registration .*declaring 28 API permissions'
        $r.StdOut | Should -Match 'What if: .*Add the new app to the EWS allow list \(EwsAllowedAppIDs: 2 app\(s\) listed before, 3 after'
        $r.StdOut | Should -Match 'What if: .*Grant admin consent to Microsoft Graph Mail.Read \(application\)'
        $r.StdOut | Should -Match 'What if: .*Grant admin consent to SharePoint delegated permissions'
        $r.StdOut | Should -Not -Match 'LegacyAuthProtocolsEnabled' -Because 'step 17 is retired: never planned'
        $r.StdOut | Should -Match 'returned=0'
        Get-Writes | Should -BeNullOrEmpty
    }
    It 'runs with -Debug alone in a non-interactive session (a runbook) without prompting' {
        # PowerShell turns -Debug into Inquire for a cmdlet's own WriteVerbose and WriteWarning;
        # where nobody can answer (a runbook, -NonInteractive) that threw mid-run.
        $r = Invoke-ConnectedPwsh $emu.Tenants[12] @"
`$r = Invoke-KodoOnboarding -Environment Emulator -Confirm:`$false -SkipAudit -Debug
"status=`$(`$r.Status)"
`$again = Invoke-KodoOnboarding -Environment Emulator -Confirm:`$false -SkipAudit -Debug -WarningVariable warned
"again=`$(`$again.Status)"
"@
        $r.ExitCode | Should -Be 0 -Because "$($r.StdOut) $($r.StdErr)"
        $r.StdOut | Should -Match 'status=Succeeded'
        $r.StdOut | Should -Match 'again=Succeeded'
        "$($r.StdOut) $($r.StdErr)" | Should -Not -Match 'NonInteractive mode'
    }
    It 'onboards in 6 Graph round trips after sign-in (one read, the app, its service principal and secret, every consent, the secret''s delivery: tags read, then written and read back in one $batch) and 4 to Exchange; step 17 left alone' {
        $null = Connect-Tenant 10
        Clear-Log
        $r = Invoke-KodoOnboarding -Environment Emulator -SkipAudit
        $log = @((Invoke-RestMethod -Uri "$($emu.Url)/_emulator/requests" -SkipCertificateCheck) | ForEach-Object { $_ } | Where-Object { -not $_.PSObject.Properties['batch'] -and $_.path -notlike '*/oauth2/*' })
        (@($log | Where-Object path -like '/v1.0/*') | ForEach-Object { "$($_.method) $($_.path)" }) -join '; ' | Should -Match '^POST /v1.0/\$batch; PATCH /v1.0/applications\(uniqueName=''kodo-for-cloud-backup''\); POST /v1.0/\$batch; POST /v1.0/\$batch; GET /v1.0/applications/[0-9a-f-]{36}; POST /v1.0/\$batch$'
        # The last two: once the result (with its secret) was written, the secret's mark on the
        # app went (the tags read afresh, only this run's mark taken out, read back to check: the
        # write and the read-back chained in one $batch with dependsOn).
        $plain = Invoke-PlainGraph $t "applications(appId='$($r.ClientId)')?`$select=tags,passwordCredentials"
        $plain.tags | Should -Be @('KodoManaged')
        $plain.passwordCredentials[0].displayName | Should -Match '^Kodo \d{4}-\d{2}-\d{2} #[0-9a-f]{8}$'
        # Exchange: the organization's EWS settings read (with the Graph read), read afresh right
        # before the write, written, read back after a pause (a guarded read-modify-write).
        @($log | Where-Object path -like '/adminapi/*').Count | Should -Be 4
        $r.Ews.Status | Should -Be 'Configured'
        $r.AuditPassed | Should -BeNullOrEmpty
        ($r.RetiredSteps | ForEach-Object Step) | Should -Be @('12', '15-16', '17')
        ($r.RetiredSteps | Where-Object Step -eq '17').Since | Should -Be '2026-05-01'
        (Get-KodoSharePointTenant).LegacyAuthProtocolsEnabled | Should -BeFalse -Because 'the tenant turned it off and Kodo never turns it back on'
        @($r.Permissions | Where-Object Status -eq 'Granted').Count | Should -Be 28
        Assert-Onboarded $t $r
        (Test-KodoApp -AppId $r.ClientId -Summary).Passed | Should -BeTrue
    }
}

Describe 'Invoke-KodoOnboarding in a runbook' {
    It 'runs with only the managed-identity variables set and no console input, and a re-run changes nothing' {
        # A fresh pwsh with its own emulator (a fresh tenant); no Connect-Kodo: the runbook has
        # only IDENTITY_ENDPOINT and IDENTITY_HEADER, as Azure Automation sets them.
        $script = @"
`$ErrorActionPreference = 'Stop'
Import-Module '$($script:ManifestPath)'
`$emu = Start-KodoEmulator
`$env:IDENTITY_ENDPOINT = `$emu.IdentityEndpoint
`$env:IDENTITY_HEADER = `$emu.IdentityHeader
try {
    `$first = Invoke-KodoOnboarding -Environment Emulator -Confirm:`$false
    `$second = Invoke-KodoOnboarding -Environment Emulator -Confirm:`$false
    "first: tenant=`$(`$first.TenantId -eq `$emu.Tenants[0].TenantId) identity=`$((Get-KodoContext).IdentityKind) changes=`$(`$first.Changes.Count) audit=`$(`$first.AuditPassed) secret=`$(`$null -ne `$first.ClientSecret)"
    "second: changes=`$(`$second.Changes.Count) audit=`$(`$second.AuditPassed) same=`$(`$first.ClientId -eq `$second.ClientId)"
} finally { Stop-KodoEmulator }
"@
        $r = Invoke-FreshPwsh -Script $script -Environment @{ KODO_EMULATOR = $null; IDENTITY_ENDPOINT = $null; IDENTITY_HEADER = $null }
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.StdOut | Should -Match 'first: tenant=True identity=ManagedIdentity changes=3\d audit=True secret=True'
        $r.StdOut | Should -Match 'second: changes=0 audit=True same=True'
    }
}

Describe 'Lists longer than one page' {
    # Graph pages every list (facts.md 3.14); the emulator's page size is made tiny here, so the
    # Kodo app's 18 app role assignments, its grants and the tagged apps all span pages.
    BeforeAll {
        $t = Connect-Tenant 11
        Set-Emulator @{ pageSize = 2 }
        $token = Get-PlainToken $t
        foreach ($n in 1..5) {
            $null = Invoke-RestMethod -Method Post -Uri "$($emu.Url)/v1.0/applications" -Headers @{ Authorization = "Bearer $token" } -Body (@{ displayName = "Line-of-business app $n" } | ConvertTo-Json) -ContentType 'application/json' -SkipCertificateCheck
        }
        # Every page of a list, read with plain Graph calls (outside Kodo).
        function Get-AllPages([string]$Path) {
            $token = Get-PlainToken $t
            $url = "$($emu.Url)/v1.0/$Path"
            while ($url) {
                $page = Invoke-RestMethod -Uri $url -Headers @{ Authorization = "Bearer $token" } -SkipCertificateCheck
                $page.value
                $next = $page.PSObject.Properties['@odata.nextLink']
                # The emulator links the production host; the test reaches it by its address.
                $url = if ($next) { ([string]$next.Value) -replace '^https://graph\.microsoft\.com', $emu.Url } else { $null }
            }
        }
    }
    AfterAll { Set-Emulator @{ pageSize = 100 } }

    It 'onboards, audits and re-runs right when every list spans pages' {
        @(Get-AllPages 'applications?$select=id').Count | Should -BeGreaterThan 4
        $r = Invoke-KodoOnboarding -Environment Emulator -Confirm:$false
        $r.AuditPassed | Should -BeTrue -Because (($r.Audit | Where-Object Status -ne 'Pass' | ForEach-Object { "$($_.Check): $($_.Detail)" }) -join '; ')
        @($r.Permissions | Where-Object Status -eq 'Granted').Count | Should -Be 28
        $sp = Invoke-PlainGraph $t "servicePrincipals(appId='$($r.ClientId)')"
        @(Get-AllPages "servicePrincipals/$($sp.id)/appRoleAssignments").Count | Should -Be 18
        # A re-run reads every page of what the app holds: nothing to grant again, nothing written.
        Clear-Log
        $again = Invoke-KodoOnboarding -Environment Emulator -Confirm:$false
        $again.Changes | Should -BeNullOrEmpty
        $again.AuditPassed | Should -BeTrue
        Get-Writes | Should -BeNullOrEmpty
        $nextPages = @((Invoke-RestMethod -Uri "$($emu.Url)/_emulator/requests" -SkipCertificateCheck) | ForEach-Object { $_ } | Where-Object { $_.method -eq 'GET' -and $_.path -like '*appRoleAssignments*' })
        $nextPages.Count | Should -BeGreaterThan 2 -Because 'the assignments are read page by page'
    }
    It 'finds two tagged apps on different pages and names both' {
        Set-Emulator @{ pageSize = 1 }
        try {
            $token = Get-PlainToken $t
            $extra = Invoke-RestMethod -Method Post -Uri "$($emu.Url)/v1.0/applications" -Headers @{ Authorization = "Bearer $token" } -Body (@{ displayName = 'Kodo on page two'; tags = @('KodoManaged') } | ConvertTo-Json) -ContentType 'application/json' -SkipCertificateCheck
            Clear-Log
            { New-KodoApp -DisplayName 'x' } | Should -Throw -ExpectedMessage '*Kodo on page two*-AppId*'
            { Invoke-KodoOnboarding -Environment Emulator -Confirm:$false } | Should -Throw -ErrorId 'Kodo.AlreadyExists,Invoke-KodoOnboarding' -ExpectedMessage '*Kodo on page two*'
            Get-Writes | Should -BeNullOrEmpty
        } finally {
            Set-Emulator @{ pageSize = 2 }
            if ($extra) { $null = Invoke-RestMethod -Method Delete -Uri "$($emu.Url)/v1.0/applications/$($extra.id)" -Headers @{ Authorization = "Bearer $token" } -SkipCertificateCheck }
        }
    }
}

Describe 'A bulk run''s time limit per request (-RequestTimeoutSec)' {
    It 'a request the service never answers is given up after the limit, not after the default 120 s' {
        $t = $emu.Tenants[13]
        # The first Graph $batch of the run gets no answer (the emulator holds it).
        $null = Invoke-Control POST 'faults' @{ method = 'POST'; pathContains = '$batch'; hold = $true; count = 1 }
        Clear-Log
        $rows = @([pscustomobject]@{ TenantId = $t.TenantId; ClientSecretCredential = $t.BootstrapCredential })
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        $r = @($rows | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -RequestTimeoutSec 2 -ErrorAction SilentlyContinue -ErrorVariable failedTenant)
        $watch.Stop()
        @(Get-Log | Where-Object { $_.PSObject.Properties['held'] -and $_.held }).Count | Should -Be 1
        # Given up after 2 s, long before 120 s: the tenant fails as unanswered (one error record,
        # one result), and the same command run again completes it.
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 60
        $r[0].Status | Should -Be 'Failed'
        $failedTenant.Count | Should -Be 1
        $failedTenant[0].FullyQualifiedErrorId | Should -BeLike 'Kodo.TenantFailed*'
        $failedTenant[0].Exception.Message | Should -Match 'timed out'
        $again = @($rows | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -RequestTimeoutSec 30)
        $again[0].Status | Should -Be 'Succeeded'
        { $rows | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -RequestTimeoutSec 0 } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,Invoke-KodoOnboarding'
    }
}
