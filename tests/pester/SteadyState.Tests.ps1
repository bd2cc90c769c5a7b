# Steady state (issue 18): what a scheduled re-run and the nightly audit cost on a tenant that is
# already correct, counted from the emulator's request log per service, and that the cheap path
# still finds and repairs drift. Each measured run starts from a new connection (Connect-Kodo),
# so its tokens (Connect-Kodo's Graph token included) are counted as a scheduled job's fresh
# process pays them.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $script:ManifestPath -Force
    $emu = Start-KodoEmulator -Tenants 3

    # Round trips (HTTP requests the module sent: a `$batch` counts once, its items not) per
    # service, and every write (a `$batch` item included; Exchange's admin API takes Get-* as a
    # POST too, so its writes are checked through the emulator's state instead).
    function Get-RoundTrips {
        $log = @(Get-Log)
        $sent = @($log | Where-Object { -not $_.batch })
        [pscustomobject]@{
            Token    = @($sent | Where-Object { $_.path -like '*/oauth2/v2.0/token' }).Count
            Graph    = @($sent | Where-Object { $_.path -like '/v1.0/*' -or $_.path -like '/beta/*' }).Count
            Exchange = @($sent | Where-Object { $_.path -like '/adminapi/*' }).Count
            Total    = $sent.Count
            Writes   = @($log | Where-Object { $_.method -in 'POST', 'PATCH', 'PUT', 'DELETE' -and $_.path -like '/v1.0/*' -and $_.path -ne '/v1.0/$batch' }).Count
            Log      = $log
        }
    }
    # Round trips as token/Graph/Exchange (e.g. '2/1/1'), nothing else sent, and no write.
    function Assert-Trips($Trips, [string]$Split) {
        "$($Trips.Token)/$($Trips.Graph)/$($Trips.Exchange)" | Should -Be $Split
        $Trips.Total | Should -Be (($Split -split '/' | ForEach-Object { [int]$_ } | Measure-Object -Sum).Sum)
        $Trips.Writes | Should -Be 0
    }
    function Invoke-Measured([int]$Index, [scriptblock]$Body) {
        Clear-Log
        $null = Connect-Tenant $Index
        $out = & $Body
        [pscustomobject]@{ Output = $out; Trips = (Get-RoundTrips) }
    }
    function Get-PlainToken($Tenant) {
        $body = @{ grant_type = 'client_credentials'; client_id = $Tenant.BootstrapClientId; client_secret = $Tenant.BootstrapCredential.GetNetworkCredential().Password; scope = 'https://graph.microsoft.com/.default' }
        (Invoke-RestMethod -Method Post -Uri "$($emu.Url)/$($Tenant.TenantId)/oauth2/v2.0/token" -Body $body -SkipCertificateCheck).access_token
    }

    $name = 'KODO steady state'
    Clear-Log
    $t0 = Connect-Tenant 0
    $first = Invoke-KodoOnboarding -DisplayName $name -SkipAudit -Confirm:$false
    $firstTrips = Get-RoundTrips
    $appId = $first.ClientId
    function Get-Ews($Tenant) {
        $x = Get-Exchange $Tenant
        [pscustomobject]@{ Enabled = $x.ewsEnabled; Policy = $x.ewsApplicationAccessPolicy; AllowedAppIds = @(([string]$x.ewsAllowedAppIDs -split ',') | Where-Object { $_ }) }
    }
    $ewsBefore = Get-Ews $t0
}

AfterAll {
    Stop-KodoEmulator
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'A first run' {
    It 'clears the new secret''s delivery mark from fresh tags, its write and read-back in one $batch (dependsOn)' {
        $first.Status | Should -Be 'Succeeded'
        $sent = @($firstTrips.Log | Where-Object { -not $_.batch })
        # The mark: read the tags (alone), then PATCH + GET chained in the last $batch. Graph: the
        # reads, the app's upsert, its service principal and secret, the consents, then these two
        # (7 before the chain).
        $last = $sent[-1]
        $last.path | Should -Be '/v1.0/$batch'
        $items = @($firstTrips.Log | Where-Object { $_.batch -and $_.requestId -eq $last.requestId })
        $items.Count | Should -Be 2
        $items[0].method | Should -Be 'PATCH'
        $items[0].path | Should -BeLike '/v1.0/applications/*'
        $items[1].method | Should -Be 'GET'
        $items[1].path | Should -Be $items[0].path
        $firstTrips.Token | Should -Be 2
        $firstTrips.Exchange | Should -Be 4
        $firstTrips.Graph | Should -Be 6
    }
}

Describe 'Steady state on a correct tenant' {
    It 'a re-run (-SkipAudit) takes 2 tokens, 2 Graph $batch reads and 1 Exchange read, and writes nothing' {
        $first.Status | Should -Be 'Succeeded'
        $m = Invoke-Measured 0 { Invoke-KodoOnboarding -DisplayName $name -SkipAudit -Confirm:$false }
        $m.Output.Status | Should -Be 'Succeeded'
        @($m.Output.Changes).Count | Should -Be 0
        Assert-Trips $m.Trips '2/2/1'
        # Graph: the tagged app, the policy and the resource APIs; then what the app holds by its
        # appId. Exchange: the EWS allow list (one InvokeCommand). One token per audience.
        @($m.Trips.Log | Where-Object { -not $_.batch -and $_.path -like '/v1.0/*' -and $_.path -ne '/v1.0/$batch' }).Count | Should -Be 0 -Because 'every Graph read goes in a $batch'
        $ewsBefore.AllowedAppIds | Should -Contain $appId
        (Get-Ews $t0 | ConvertTo-Json) | Should -Be ($ewsBefore | ConvertTo-Json)
    }

    It 'a re-run with its audit takes 5 round trips (2 token, 2 Graph, 1 Exchange) and writes nothing' {
        $m = Invoke-Measured 0 { Invoke-KodoOnboarding -DisplayName $name -Confirm:$false }
        $m.Output.Status | Should -Be 'Succeeded'
        $m.Output.AuditPassed | Should -BeTrue
        @($m.Output.Audit).Count | Should -BeGreaterThan 30
        Assert-Trips $m.Trips '2/2/1'
        # A run that wrote nothing is audited from its own reads: the SharePoint setting went in
        # the first $batch, so the audit sends nothing of its own.
        @($m.Trips.Log | Where-Object { $_.path -like '/v1.0/applications(appId=*' }).Count | Should -Be 0
        @($m.Trips.Log | Where-Object { $_.path -eq '/v1.0/admin/sharepoint/settings' }).Count | Should -Be 1
        @($m.Trips.Log | Where-Object { $_.path -eq '/v1.0/admin/sharepoint/settings' -and -not $_.batch }).Count | Should -Be 0
    }

    It 'Test-KodoApp takes 4 round trips (2 token, 1 Graph $batch with the SharePoint setting, 1 Exchange) and writes nothing' {
        $m = Invoke-Measured 0 { Test-KodoApp -AppId $appId -Summary }
        $m.Output.Passed | Should -BeTrue
        Assert-Trips $m.Trips '2/1/1'
        @($m.Trips.Log | Where-Object { $_.path -eq '/v1.0/admin/sharepoint/settings' -and $_.batch }).Count | Should -Be 1
    }

    It 'the audit alone (-AuditOnly) takes 5 round trips (2 token, 2 Graph, 1 Exchange) and writes nothing' {
        $m = Invoke-Measured 0 { Invoke-KodoOnboarding -AuditOnly -Confirm:$false }
        $m.Output.AuditPassed | Should -BeTrue
        Assert-Trips $m.Trips '2/2/1'
        # The tag finds the app (one GET), then one $batch reads it, what it holds, the APIs and
        # the SharePoint setting.
    }

    It 'the SharePoint setting read in the $batch still drives its check: On warns, Off passes' {
        $null = Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $true -Confirm:$false -WarningAction SilentlyContinue
        try {
            $on = Invoke-KodoOnboarding -DisplayName $name -AppId $appId -Confirm:$false
            ($on.Audit | Where-Object { $_.Area -eq 'SharePoint' -and $_.Check -eq 'LegacyAuthProtocolsEnabled' }).Status | Should -Be 'Warn'
            (Test-KodoApp -AppId $appId | Where-Object { $_.Area -eq 'SharePoint' -and $_.Check -eq 'LegacyAuthProtocolsEnabled' }).Status | Should -Be 'Warn'
        } finally {
            $null = Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $false -Confirm:$false
        }
        $off = Invoke-KodoOnboarding -DisplayName $name -AppId $appId -Confirm:$false
        ($off.Audit | Where-Object { $_.Area -eq 'SharePoint' -and $_.Check -eq 'LegacyAuthProtocolsEnabled' }).Status | Should -Be 'Pass'
    }
}

Describe 'Drift on the cheap path' {
    It 'an app role assignment removed behind Kodo''s back is found by the audit and put back by the re-run' {
        $token = Get-PlainToken $t0
        $headers = @{ Authorization = "Bearer $token" }
        $sp = Invoke-RestMethod -Uri "$($emu.Url)/v1.0/servicePrincipals(appId='$appId')" -Headers $headers -SkipCertificateCheck
        $assigned = @((Invoke-RestMethod -Uri "$($emu.Url)/v1.0/servicePrincipals/$($sp.id)/appRoleAssignments" -Headers $headers -SkipCertificateCheck).value)
        $assigned.Count | Should -Be 18
        $gone = $assigned[0]
        Invoke-RestMethod -Method Delete -Uri "$($emu.Url)/v1.0/servicePrincipals/$($sp.id)/appRoleAssignments/$($gone.id)" -Headers $headers -SkipCertificateCheck | Out-Null

        # The nightly audit reports it, in the one object per tenant.
        $audit = Invoke-KodoOnboarding -AuditOnly -Confirm:$false
        $audit.AuditPassed | Should -BeFalse
        @($audit.Audit | Where-Object { $_.Status -eq 'Fail' -and $_.Area -eq 'Permission' }).Count | Should -Be 1

        # The re-run puts back exactly what is missing, and, having written, is audited from
        # fresh reads (which find the assignment back).
        $m = Invoke-Measured 0 { Invoke-KodoOnboarding -DisplayName $name -Confirm:$false }
        $m.Output.Status | Should -Be 'Succeeded'
        $m.Output.AuditPassed | Should -BeTrue
        @($m.Trips.Log | Where-Object { $_.batch -and $_.path -like '/v1.0/applications(appId=*' }).Count | Should -Be 1
        $writes = @($m.Trips.Log | Where-Object { $_.method -in 'POST', 'PATCH', 'PUT', 'DELETE' -and $_.path -like '/v1.0/*' -and $_.path -ne '/v1.0/$batch' })
        $writes.Count | Should -Be 1
        $writes[0].path | Should -BeLike '*/appRoleAssignedTo'
        @($m.Output.Changes | Where-Object { $_ -like 'Granted *' }).Count | Should -Be 1
        $back = @((Invoke-RestMethod -Uri "$($emu.Url)/v1.0/servicePrincipals/$($sp.id)/appRoleAssignments" -Headers $headers -SkipCertificateCheck).value)
        $back.Count | Should -Be 18
        @($back | Where-Object { $_.appRoleId -eq $gone.appRoleId -and $_.resourceId -eq $gone.resourceId }).Count | Should -Be 1

        (Invoke-KodoOnboarding -AuditOnly -Confirm:$false).AuditPassed | Should -BeTrue
    }

    It 'the app taken off the EWS allow list is put back, and the audit reads the list afresh after that write' {
        $others = @($ewsBefore.AllowedAppIds | Where-Object { $_ -ne $appId })
        $null = Invoke-Control PATCH "tenants/$($t0.TenantId)/exchange" @{ ewsAllowedAppIDs = ($others -join ',') }
        (Get-Ews $t0).AllowedAppIds | Should -Not -Contain $appId
        $m = Invoke-Measured 0 { Invoke-KodoOnboarding -DisplayName $name -Confirm:$false }
        $m.Output.Status | Should -Be 'Succeeded'
        $m.Output.AuditPassed | Should -BeTrue
        (Get-Ews $t0).AllowedAppIds | Should -Contain $appId
        # The read before the write, the guarded write's own reads, and the audit's fresh read.
        $m.Trips.Exchange | Should -BeGreaterThan 2
        @($m.Trips.Log | Where-Object { $_.batch -and $_.path -like '/v1.0/applications(appId=*' }).Count | Should -Be 1
    }

    It 'an app whose service principal is gone gets a new one and its consents on the re-run' {
        $t1 = Connect-Tenant 1
        $made = Invoke-KodoOnboarding -DisplayName $name -SkipAudit -Confirm:$false
        $token = Get-PlainToken $t1
        $headers = @{ Authorization = "Bearer $token" }
        Invoke-RestMethod -Method Delete -Uri "$($emu.Url)/v1.0/servicePrincipals(appId='$($made.ClientId)')" -Headers $headers -SkipCertificateCheck | Out-Null
        $again = Invoke-KodoOnboarding -DisplayName $name -Confirm:$false
        $again.Status | Should -Be 'Succeeded'
        $again.AuditPassed | Should -BeTrue
        $sp = Invoke-RestMethod -Uri "$($emu.Url)/v1.0/servicePrincipals(appId='$($made.ClientId)')" -Headers $headers -SkipCertificateCheck
        @((Invoke-RestMethod -Uri "$($emu.Url)/v1.0/servicePrincipals/$($sp.id)/appRoleAssignments" -Headers $headers -SkipCertificateCheck).value).Count | Should -Be 18
    }
}

Describe 'A known appId (Invoke-KodoOnboarding -AppId, the ledger''s clientId): one Graph $batch' {
    BeforeAll {
        # The reads of what the app holds, addressed by its appId, and which request carried them.
        function Get-HintReads($Trips, [string]$Id) {
            @($Trips.Log | Where-Object { $_.batch -and $_.path -like "/v1.0/servicePrincipals(appId='$Id')*" })
        }
        function Get-FirstGraph($Trips) {
            @($Trips.Log | Where-Object { -not $_.batch -and ($_.path -like '/v1.0/*' -or $_.path -like '/beta/*') })[0]
        }
    }

    It 'a re-run (-SkipAudit) takes 4 round trips (2 token, 1 Graph $batch, 1 Exchange) and writes nothing' {
        $m = Invoke-Measured 0 { Invoke-KodoOnboarding -DisplayName $name -AppId $appId -SkipAudit -Confirm:$false }
        $m.Output.Status | Should -Be 'Succeeded'
        $m.Output.ClientId | Should -Be $appId
        @($m.Output.Changes).Count | Should -Be 0
        Assert-Trips $m.Trips '2/1/1'
        # The one $batch holds the tag's search (the app is still found by it) and the hint's reads.
        $batch = Get-FirstGraph $m.Trips
        $batch.path | Should -Be '/v1.0/$batch'
        $items = @($m.Trips.Log | Where-Object { $_.batch -and $_.requestId -eq $batch.requestId })
        @($items | Where-Object { $_.path -eq '/v1.0/applications' -and $_.query -like '*filter=tags*' }).Count | Should -Be 1
        @($items | Where-Object { $_.path -like "/v1.0/servicePrincipals(appId='$appId')*" }).Count | Should -Be 3
        @(Get-HintReads $m.Trips $appId).Count | Should -Be 3 -Because 'nothing is read twice'
        (Get-Ews $t0 | ConvertTo-Json) | Should -Be ($ewsBefore | ConvertTo-Json)
    }

    It 'a re-run with its audit takes 4 round trips too (2 token, 1 Graph $batch, 1 Exchange) and writes nothing' {
        $m = Invoke-Measured 0 { Invoke-KodoOnboarding -DisplayName $name -AppId $appId -Confirm:$false }
        $m.Output.Status | Should -Be 'Succeeded'
        $m.Output.AuditPassed | Should -BeTrue
        @($m.Output.Audit).Count | Should -BeGreaterThan 30
        Assert-Trips $m.Trips '2/1/1'
    }

    It 'the audit alone (-AuditOnly -AppId) takes 4 round trips (2 token, 1 Graph $batch, 1 Exchange)' {
        $m = Invoke-Measured 0 { Invoke-KodoOnboarding -AuditOnly -AppId $appId -Confirm:$false }
        $m.Output.AuditPassed | Should -BeTrue
        $m.Output.ClientId | Should -Be $appId
        @($m.Output.Audit).Count | Should -BeGreaterThan 30
        Assert-Trips $m.Trips '2/1/1'
        @(Get-HintReads $m.Trips $appId).Count | Should -Be 3
    }

    It 'the audit alone with a hint that names no app audits the tagged app from its own reads (5 round trips)' {
        $other = [guid]::NewGuid().ToString()
        $m = Invoke-Measured 0 { Invoke-KodoOnboarding -AuditOnly -AppId $other -Confirm:$false }
        $m.Output.AuditPassed | Should -BeTrue
        $m.Output.ClientId | Should -Be $appId
        $m.Trips.Graph | Should -Be 2
        $m.Trips.Total | Should -Be 5
        @(Get-HintReads $m.Trips $appId).Count | Should -Be 3 -Because 'the tagged app is audited from reads by its own appId'
    }

    It 'a hint that names no app of the tenant is not trusted: the run reads as without it (5 round trips), writes nothing' {
        $other = [guid]::NewGuid().ToString()
        $m = Invoke-Measured 0 { Invoke-KodoOnboarding -DisplayName $name -AppId $other -SkipAudit -Confirm:$false }
        $m.Output.Status | Should -Be 'Succeeded'
        $m.Output.ClientId | Should -Be $appId
        $m.Trips.Writes | Should -Be 0
        $m.Trips.Graph | Should -Be 2
        $m.Trips.Total | Should -Be 5
        @(Get-HintReads $m.Trips $other).Count | Should -Be 3
        @(Get-HintReads $m.Trips $appId).Count | Should -Be 3 -Because 'what the tagged app holds is read by its own appId'
    }

    It 'an -AppId that is not a GUID is refused before anything is sent' {
        Clear-Log
        { Invoke-KodoOnboarding -DisplayName $name -AppId "x') or (1 eq 1" -SkipAudit -Confirm:$false } | Should -Throw
        @(Get-Log | Where-Object { $_.path -like '/v1.0/*' }).Count | Should -Be 0
    }

    It 'a role removed behind Kodo''s back is put back by a hinted re-run, from the one $batch''s reads' {
        $token = Get-PlainToken $t0
        $headers = @{ Authorization = "Bearer $token" }
        $sp = Invoke-RestMethod -Uri "$($emu.Url)/v1.0/servicePrincipals(appId='$appId')" -Headers $headers -SkipCertificateCheck
        $assigned = @((Invoke-RestMethod -Uri "$($emu.Url)/v1.0/servicePrincipals/$($sp.id)/appRoleAssignments" -Headers $headers -SkipCertificateCheck).value)
        $assigned.Count | Should -Be 18
        $gone = $assigned[-1]
        Invoke-RestMethod -Method Delete -Uri "$($emu.Url)/v1.0/servicePrincipals/$($sp.id)/appRoleAssignments/$($gone.id)" -Headers $headers -SkipCertificateCheck | Out-Null

        # The hinted nightly audit finds it, from its one $batch.
        $audit = Invoke-KodoOnboarding -AuditOnly -AppId $appId -Confirm:$false
        $audit.AuditPassed | Should -BeFalse
        @($audit.Audit | Where-Object { $_.Status -eq 'Fail' -and $_.Area -eq 'Permission' }).Count | Should -Be 1

        $m = Invoke-Measured 0 { Invoke-KodoOnboarding -DisplayName $name -AppId $appId -SkipAudit -Confirm:$false }
        $m.Output.Status | Should -Be 'Succeeded'
        @(Get-HintReads $m.Trips $appId).Count | Should -Be 3 -Because 'the hint''s reads planned the grant'
        $writes = @($m.Trips.Log | Where-Object { $_.method -in 'POST', 'PATCH', 'PUT', 'DELETE' -and $_.path -like '/v1.0/*' -and $_.path -ne '/v1.0/$batch' })
        $writes.Count | Should -Be 1
        $writes[0].path | Should -BeLike '*/appRoleAssignedTo'
        @($m.Output.Changes | Where-Object { $_ -like 'Granted *' }).Count | Should -Be 1
        $back = @((Invoke-RestMethod -Uri "$($emu.Url)/v1.0/servicePrincipals/$($sp.id)/appRoleAssignments" -Headers $headers -SkipCertificateCheck).value)
        @($back | Where-Object { $_.appRoleId -eq $gone.appRoleId -and $_.resourceId -eq $gone.resourceId }).Count | Should -Be 1
        (Invoke-KodoOnboarding -AuditOnly -AppId $appId -Confirm:$false).AuditPassed | Should -BeTrue
    }

    It 'a hinted app whose service principal is gone gets a new one and its consents' {
        $t1 = Connect-Tenant 1
        $id = (Invoke-KodoOnboarding -DisplayName $name -SkipAudit -Confirm:$false).ClientId
        $headers = @{ Authorization = "Bearer $(Get-PlainToken $t1)" }
        Invoke-RestMethod -Method Delete -Uri "$($emu.Url)/v1.0/servicePrincipals(appId='$id')" -Headers $headers -SkipCertificateCheck | Out-Null
        $m = Invoke-Measured 1 { Invoke-KodoOnboarding -DisplayName $name -AppId $id -Confirm:$false }
        $m.Output.Status | Should -Be 'Succeeded'
        $m.Output.ClientId | Should -Be $id
        $m.Output.AuditPassed | Should -BeTrue
        @($m.Trips.Log | Where-Object { $_.method -eq 'POST' -and $_.path -eq '/v1.0/servicePrincipals' }).Count | Should -Be 1
        $sp = Invoke-RestMethod -Uri "$($emu.Url)/v1.0/servicePrincipals(appId='$id')" -Headers $headers -SkipCertificateCheck
        @((Invoke-RestMethod -Uri "$($emu.Url)/v1.0/servicePrincipals/$($sp.id)/appRoleAssignments" -Headers $headers -SkipCertificateCheck).value).Count | Should -Be 18
    }

    It 'a hinted app that was deleted is onboarded again: a new app, not the stale id' {
        $t1 = Connect-Tenant 1
        $headers = @{ Authorization = "Bearer $(Get-PlainToken $t1)" }
        $old = (Invoke-KodoOnboarding -DisplayName $name -SkipAudit -Confirm:$false).ClientId
        $app = Invoke-RestMethod -Uri "$($emu.Url)/v1.0/applications(appId='$old')?`$select=id" -Headers $headers -SkipCertificateCheck
        Invoke-RestMethod -Method Delete -Uri "$($emu.Url)/v1.0/applications/$($app.id)" -Headers $headers -SkipCertificateCheck | Out-Null
        $m = Invoke-Measured 1 { Invoke-KodoOnboarding -DisplayName $name -AppId $old -Confirm:$false }
        $m.Output.Status | Should -Be 'Succeeded'
        $m.Output.AuditPassed | Should -BeTrue
        $m.Output.ClientId | Should -Not -Be $old
        $m.Output.ClientSecret | Should -BeOfType [securestring]
        # A new app is made by its upsert (PATCH applications(uniqueName=...)).
        @($m.Trips.Log | Where-Object { $_.method -in 'PATCH', 'PUT' -and $_.path -like '/v1.0/applications(uniqueName=*' }).Count | Should -Be 1
        $null = Invoke-KodoOnboarding -DisplayName $name -AppId $m.Output.ClientId -SkipAudit -Confirm:$false
    }

    It 'a -LedgerPath -Recheck of a tenant done takes its appId from the ledger: 4 round trips, nothing written' {
        $ledger = Join-Path ([System.IO.Path]::GetTempPath()) "kodo-steady-$([guid]::NewGuid()).jsonl"
        try {
            $row = [pscustomobject]@{ TenantId = $t0.TenantId; ClientSecretCredential = $t0.BootstrapCredential }
            $done = @($row | Invoke-KodoOnboarding -Environment Emulator -DisplayName $name -SkipAudit -Confirm:$false -LedgerPath $ledger)
            $done[0].Status | Should -Be 'Succeeded'
            $done[0].ClientId | Should -Be $appId
            Clear-Log
            $again = @($row | Invoke-KodoOnboarding -Environment Emulator -DisplayName $name -SkipAudit -Confirm:$false -LedgerPath $ledger -Recheck)
            $trips = Get-RoundTrips
            $again[0].Status | Should -Be 'Succeeded'
            $again[0].ClientId | Should -Be $appId
            $trips.Writes | Should -Be 0
            $trips.Token | Should -Be 2
            $trips.Graph | Should -Be 1
            $trips.Exchange | Should -Be 1
            $trips.Total | Should -Be 4
            @(Get-HintReads $trips $appId).Count | Should -Be 3
        } finally {
            Remove-Item -LiteralPath $ledger, "$ledger.lock" -Force -ErrorAction SilentlyContinue
        }
    }
}

Describe 'A manifest without EWS (no full_access_as_app): nothing to read through Exchange' {
    # The EWS allow list is read through Exchange only, with a token of its own: that is what
    # keeps the default re-run at 4. A manifest that does not ask for EWS (mail through Graph)
    # needs neither, and the re-run is a token and Graph's $batch reads.
    BeforeAll {
        $seed = Get-Content -Raw -LiteralPath (Join-Path (Split-Path $script:ManifestPath) 'Data/seed.json') | ConvertFrom-Json -DateKind String
        $seed.permissions = @($seed.permissions | Where-Object { $_.permission -ne 'full_access_as_app' })
        $noEws = Join-Path $TestDrive 'no-ews.json'
        $seed | ConvertTo-Json -Depth 10 | Set-Content -LiteralPath $noEws -Encoding utf8
        $null = Connect-Tenant 2
        $made = Invoke-KodoOnboarding -DisplayName $name -ManifestPath $noEws -SkipAudit -Confirm:$false
    }

    It 'a re-run with the app''s id takes 2 round trips (a token, one Graph $batch), with its audit too, and writes nothing' {
        $made.Status | Should -Be 'Succeeded'
        $made.Ews | Should -BeNullOrEmpty
        @($made.Permissions | Where-Object { $_.Permission -eq 'full_access_as_app' }).Count | Should -Be 0
        $m = Invoke-Measured 2 { Invoke-KodoOnboarding -DisplayName $name -ManifestPath $noEws -AppId $made.ClientId -SkipAudit -Confirm:$false }
        $m.Output.Status | Should -Be 'Succeeded'
        $m.Output.ClientId | Should -Be $made.ClientId
        @($m.Output.Changes).Count | Should -Be 0
        Assert-Trips $m.Trips '1/1/0'
        $m = Invoke-Measured 2 { Invoke-KodoOnboarding -DisplayName $name -ManifestPath $noEws -AppId $made.ClientId -Confirm:$false }
        $m.Output.AuditPassed | Should -BeTrue
        @($m.Output.Audit).Count | Should -BeGreaterThan 30
        Assert-Trips $m.Trips '1/1/0'
    }

    It 'a re-run without the id takes 3 (a token, two Graph $batches) and writes nothing' {
        $m = Invoke-Measured 2 { Invoke-KodoOnboarding -DisplayName $name -ManifestPath $noEws -SkipAudit -Confirm:$false }
        $m.Output.Status | Should -Be 'Succeeded'
        @($m.Output.Changes).Count | Should -Be 0
        Assert-Trips $m.Trips '1/2/0'
    }
}

Describe 'An EWS allow list that cannot be read, read alongside the Graph $batch' {
    BeforeAll {
        # Test-KodoApp with a fault rule in place: its checks, and that the allow list's check
        # is the one failed check, with a detail matching $Detail.
        function Test-WithFault([hashtable]$Rule, [string]$Detail) {
            $null = Connect-Tenant 0
            $null = Invoke-Control DELETE 'faults'
            $null = Invoke-Control POST 'faults' $Rule
            Clear-Log
            $checks = @(Test-KodoApp -AppId $appId -Detailed)
            $ews = @($checks | Where-Object Check -eq 'EWS allow list')
            $ews.Count | Should -Be 1
            $ews[0].Status | Should -Be 'Fail'
            $ews[0].Detail | Should -Match $Detail
            @($checks | Where-Object { $_.Area -eq 'Permission' -and $_.Status -eq 'Pass' }).Count | Should -BeGreaterThan 20
            $checks
        }
    }
    AfterEach { $null = Invoke-Control DELETE 'faults' }

    It 'Test-KodoApp and -AuditOnly -AppId report it once as a failed check, and audit the rest' {
        # The connection's Graph token is in hand; the Exchange token is refused (AADSTS53003,
        # Conditional Access), so the allow list cannot be read.
        $null = Test-WithFault @{ method = 'POST'; pathContains = '/oauth2/v2.0/token'; aadsts = 53003; count = 1000 } '^Could not be read.*AADSTS53003'
        @(Get-Log | Where-Object { $_.path -like '*/oauth2/v2.0/token' }).Count | Should -Be 1 -Because 'a refused read is reported, not made again'
        Clear-Log
        $r = Invoke-KodoOnboarding -AuditOnly -AppId $appId -Confirm:$false
        $r.AuditPassed | Should -BeFalse
        @($r.Audit | Where-Object { $_.Check -eq 'EWS allow list' -and $_.Status -eq 'Fail' }).Count | Should -Be 1
        @($r.Audit | Where-Object { $_.Status -eq 'Fail' }).Count | Should -Be 1 -Because 'only what could not be read fails'
        @(Get-Log | Where-Object { $_.path -like '*/oauth2/v2.0/token' }).Count | Should -Be 1 -Because 'a refused read is reported, not made again'
    }
    It 'an Exchange outage (HTTP 500 to every request) is reported after 4 retries, not after the 120 s budget' {
        # A nightly audit of a fleet during an Exchange incident: each read gives up after Graph
        # SDK-like retries (4, backoff at most 7.5 s), so every tenant is reported in seconds.
        $null = Test-WithFault @{ pathContains = '/adminapi/'; status = 500; count = 1000 } '^Could not be read.*HTTP 500'
        @(Get-Log | Where-Object { $_.path -like '/adminapi/*' }).Count | Should -Be 5 -Because 'one try and four retries'
    }
}
