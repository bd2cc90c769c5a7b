# The ledger of a bulk run (Invoke-KodoOnboarding -LedgerPath, Get-KodoOnboardingStatus), through
# the real module and library against the emulator: a second run skips what is done (no request,
# no write); a run killed (SIGKILL) mid-way resumes with the same command and onboards each tenant
# exactly once; a torn last line, the lock, bad ledgers; and nothing secret in any ledger.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'Convergence.ps1')
    Import-Module $script:ManifestPath -Force
    $emu, $endpointFile, $modulePath = Start-ChildEmulator -Tenants 27 -Folder $TestDrive
    $script:nextTenant = 0
    $script:outputs = New-Object System.Collections.Generic.List[string]
    # The ledgers of every test, kept to the end for the secret scan (each Describe's TestDrive goes with it).
    $script:ledgerDir = Join-Path ([System.IO.Path]::GetTempPath()) ('kodo-ledgers-' + [guid]::NewGuid().ToString('N'))
    $null = New-Item -ItemType Directory -Path $script:ledgerDir
    function Get-Tenants([int]$Count) { @(1..$Count | ForEach-Object { $emu.Tenants[$script:nextTenant++] }) }
    function Get-Rows($Tenants) { @($Tenants | ForEach-Object { [pscustomobject]@{ TenantId = $_.TenantId; ClientSecretCredential = $_.BootstrapCredential } }) }
    # Every request the emulator logged for these tenants (sign-in included).
    function Get-TenantRequests($Tenants) {
        $ids = @($Tenants | ForEach-Object TenantId)
        @(foreach ($e in Get-Log) {
                $hit = $e.PSObject.Properties['tenantId'] -and $ids -contains $e.tenantId
                foreach ($id in $ids) { if (([string]$e.path).Contains($id)) { $hit = $true } }
                if ($hit) { $e }
            })
    }
    function Get-Writes { @(Get-Log | Where-Object { $_.method -in 'POST', 'PATCH', 'DELETE', 'PUT' -and $_.path -notlike '*/oauth2/v2.0/token' -and $_.path -ne '/v1.0/$batch' -and $_.path -notlike '*/InvokeCommand' -and $_.path -notlike '/_emulator/*' }) }
    function Get-Records([string]$Path) { @(Get-Content -LiteralPath $Path | Select-Object -Skip 1 | ForEach-Object { $_ | ConvertFrom-Json }) }
    # The admin's script in a pwsh of its own: the bulk run with a ledger; each delivered secret
    # goes to the tenant's vault file as the result reaches it.
    function Get-BulkScript($Tenants, [string]$Vault, [string]$Ledger, [switch]$Force, [string]$CertificateFolder) {
        $rows = ($Tenants | ForEach-Object {
                $c = $_.BootstrapCredential
                "[pscustomobject]@{ TenantId = '$($_.TenantId)'; ClientSecretCredential = (New-Object System.Management.Automation.PSCredential -ArgumentList @('$($c.UserName)', (ConvertTo-SecureString '$($c.GetNetworkCredential().Password)' -AsPlainText -Force))) }"
            }) -join ",`n"
        @"
`$ErrorActionPreference = 'Stop'
Import-Module Kodo
@(
$rows
) | Invoke-KodoOnboarding -Environment Emulator -Confirm:`$false -SkipAudit -ThrottleLimit 1 -LedgerPath '$Ledger' -Force:`$$([bool]$Force) -Verbose $(if ($CertificateFolder) { "-CredentialType Certificate -NewCertificatePassword (ConvertTo-SecureString 'Fleet-Pfx-Passw0rd!' -AsPlainText -Force) -NewCertificateFolder '$CertificateFolder'" }) | ForEach-Object {
    if (`$_.ClientSecret) {
        `$plain = [System.Net.NetworkCredential]::new('', `$_.ClientSecret).Password
        Add-Content -LiteralPath ('$Vault-' + `$_.TenantId) -Value (@{ clientId = `$_.ClientId; secret = `$plain } | ConvertTo-Json -Compress)
    }
    "result tenant=`$(`$_.TenantId) status=`$(`$_.Status)"
}
"@
    }
    function Wait-Held([scriptblock]$Gone) {
        $deadline = [datetime]::UtcNow.AddSeconds(90)
        while (-not (Get-Log | Where-Object { $_.PSObject.Properties['held'] -and $_.held })) {
            if ([datetime]::UtcNow -gt $deadline -or (& $Gone)) { throw 'the kill point was never reached' }
            Start-Sleep -Milliseconds 100
        }
    }
}

AfterAll {
    Remove-Item -LiteralPath $script:ledgerDir -Recurse -Force -ErrorAction SilentlyContinue
    Stop-KodoEmulator
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'A bulk run with a ledger' {
    It 'records every tenant done; a second run skips them all: no request for them, no write, the ledger unchanged' {
        $tenants = Get-Tenants 3
        $ledger = Join-Path $script:ledgerDir 'fleet-a.jsonl'
        $first = @(Get-Rows $tenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger)
        ($first | ForEach-Object Status) | Should -Be @('Succeeded', 'Succeeded', 'Succeeded')
        $first | ForEach-Object { $_.ClientSecret | Should -BeOfType [securestring] }
        $records = Get-Records $ledger
        (Get-Content -LiteralPath $ledger -TotalCount 1 | ConvertFrom-Json).kodoLedger | Should -Be 1
        Get-Content -LiteralPath $ledger | Select-Object -Skip 1 | ForEach-Object { $_ | Should -Match '"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"' }
        foreach ($t in $tenants) {
            $mine = @($records | Where-Object tenantId -eq $t.TenantId)
            ($mine | ForEach-Object state) | Should -Be @('planned', 'inProgress', 'done')
            $done = $mine[-1]
            $done.attempt | Should -Be 1
            $done.status | Should -Be 'Succeeded'
            $done.clientId | Should -Be ($first | Where-Object TenantId -eq $t.TenantId).ClientId
            $done.credentialLocation | Should -Be 'resultObject'
            @($records.runId | Select-Object -Unique).Count | Should -Be 1
        }
        $status = @(Get-KodoOnboardingStatus -LedgerPath $ledger)
        $status.Count | Should -Be 3
        $status | ForEach-Object { $_.PSTypeNames[0] | Should -Be 'Kodo.OnboardingStatus'; $_.State | Should -Be 'Done'; $_.Attempts | Should -Be 1; $_.CredentialLocation | Should -Be 'resultObject' }
        $sum = Get-KodoOnboardingStatus -LedgerPath $ledger -Summary
        $sum.Total | Should -Be 3
        $sum.Done | Should -Be 3
        $sum.LockedBy | Should -BeNullOrEmpty -Because 'the run released its lock'
        Test-Path -LiteralPath "$ledger.lock" | Should -BeFalse
        (Get-KodoOnboardingStatus -LedgerPath $ledger | Format-Table | Out-String -Width 250) | Should -Match 'resultObject'

        $before = (Get-FileHash -LiteralPath $ledger).Hash
        Clear-Log
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        $second = @(Get-Rows $tenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger)
        $watch.Stop()
        ($second | ForEach-Object Status) | Should -Be @('Skipped', 'Skipped', 'Skipped')
        $second | ForEach-Object { $_.SkipReason | Should -Be 'AlreadyDone'; $_.DoneAt | Should -BeOfType [datetime]; $_.ClientSecret | Should -BeNullOrEmpty }
        $second[0].ClientId | Should -Be $first[0].ClientId
        @(Get-TenantRequests $tenants).Count | Should -Be 0 -Because 'a tenant done in the ledger is not signed in to'
        @(Get-Writes).Count | Should -Be 0
        (Get-FileHash -LiteralPath $ledger).Hash | Should -Be $before -Because 'nothing changed, nothing is written'
        Write-Host ("Second run, 3 tenants done: {0:N0} ms" -f $watch.Elapsed.TotalMilliseconds)

        # -Recheck runs them again: idempotent (no change, no new secret), recorded as a new attempt.
        $again = @(Get-Rows $tenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger -Recheck)
        ($again | ForEach-Object Status) | Should -Be @('Succeeded', 'Succeeded', 'Succeeded')
        $again | ForEach-Object { $_.ClientSecret | Should -BeNullOrEmpty }
        $status = @(Get-KodoOnboardingStatus -LedgerPath $ledger)
        $status | ForEach-Object { $_.State | Should -Be 'Done'; $_.Attempts | Should -Be 2; $_.CredentialLocation | Should -Be 'resultObject' -Because 'the credential in use went there in the first run' }
        foreach ($t in $tenants) { $null = Assert-KodoApp $t }
    }

    It 'records a failed tenant with its reason and next action; the same command run again finishes it' {
        $tenants = Get-Tenants 2
        $ledger = Join-Path $script:ledgerDir 'fleet-fail.jsonl'
        $wrong = New-Object System.Management.Automation.PSCredential -ArgumentList @($tenants[1].BootstrapClientId, (ConvertTo-SecureString 'not-the-secret' -AsPlainText -Force))
        $rows = @([pscustomobject]@{ TenantId = $tenants[0].TenantId; ClientSecretCredential = $tenants[0].BootstrapCredential }, [pscustomobject]@{ TenantId = $tenants[1].TenantId; ClientSecretCredential = $wrong })
        $r = @($rows | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger -ErrorAction SilentlyContinue)
        ($r | ForEach-Object Status) | Should -Be @('Succeeded', 'Failed')
        $failed = @(Get-KodoOnboardingStatus -LedgerPath $ledger -State Failed)
        $failed.Count | Should -Be 1
        $failed[0].TenantId | Should -Be $tenants[1].TenantId
        $failed[0].Reason | Should -Match '^Kodo.AuthenticationFailed: .*AADSTS7000215'
        $failed[0].NextAction | Should -Match 'sign-in app'
        @(Get-KodoOnboardingStatus -LedgerPath $ledger -TenantId $tenants[0].TenantId.ToUpperInvariant()).State | Should -Be 'Done'
        (Get-KodoOnboardingStatus -LedgerPath $ledger -Summary).Failed | Should -Be 1
        # Fixed: the failed ones, piped from the ledger, with the right credential.
        Clear-Log
        $again = @(Get-KodoOnboardingStatus -LedgerPath $ledger -State Failed | Invoke-KodoOnboarding -ClientSecretCredential $tenants[1].BootstrapCredential -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger)
        ($again | ForEach-Object TenantId) | Should -Be @($tenants[1].TenantId)
        $again[0].Status | Should -Be 'Succeeded'
        @(Get-TenantRequests $tenants[0]).Count | Should -Be 0
        # The same command as the first (all rows): nothing left to do.
        $rest = @(Get-Rows $tenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger)
        ($rest | ForEach-Object Status) | Should -Be @('Skipped', 'Skipped')
        $s = @(Get-KodoOnboardingStatus -LedgerPath $ledger -TenantId $tenants[1].TenantId)[0]
        $s.State | Should -Be 'Done'
        $s.Attempts | Should -Be 2
        $s.Reason | Should -BeNullOrEmpty
    }

    It '-WhatIf neither creates nor writes the ledger' {
        $tenants = Get-Tenants 1
        $ledger = Join-Path $script:ledgerDir 'fleet-whatif.jsonl'
        Clear-Log
        $null = Get-Rows $tenants | Invoke-KodoOnboarding -Environment Emulator -SkipAudit -LedgerPath $ledger -WhatIf
        Test-Path -LiteralPath $ledger | Should -BeFalse
        Test-Path -LiteralPath "$ledger.lock" | Should -BeFalse
        @(Get-TenantRequests $tenants).Count | Should -Be 0
        $script:nextTenant--
    }
}

Describe 'A tenant given by its domain and by its id' {
    It 'is one ledger entry: given by its id after a run by its domain, it is skipped with no request' {
        $t = Get-Tenants 1
        $ledger = Join-Path $script:ledgerDir 'fleet-names.jsonl'
        $byDomain = @([pscustomobject]@{ TenantId = $t[0].InitialDomain; ClientSecretCredential = $t[0].BootstrapCredential })
        $first = @($byDomain | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger)
        $first[0].Status | Should -Be 'Succeeded'
        $s = @(Get-KodoOnboardingStatus -LedgerPath $ledger)
        $s.Count | Should -Be 1
        $s[0].TenantId | Should -Be $t[0].InitialDomain
        $s[0].DirectoryId | Should -Be $t[0].TenantId
        Clear-Log
        $again = @(Get-Rows $t | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger)
        $again[0].Status | Should -Be 'Skipped'
        @(Get-TenantRequests $t).Count | Should -Be 0
        @(Get-KodoOnboardingStatus -LedgerPath $ledger).Count | Should -Be 1
        (Get-KodoOnboardingStatus -LedgerPath $ledger -TenantId $t[0].TenantId).State | Should -Be 'Done'
        (Get-KodoOnboardingStatus -LedgerPath $ledger -Summary).Total | Should -Be 1
    }
}

Describe 'A bulk run killed mid-way resumes from its ledger' {
    It 'SIGKILL while the third tenant is created: the same command onboards each tenant exactly once' {
        $tenants = Get-Tenants 4
        $vault = Join-Path $TestDrive ('vault-' + [guid]::NewGuid().ToString('N'))
        $ledger = Join-Path $script:ledgerDir 'fleet-kill.jsonl'
        Clear-Log
        # One tenant at a time: the third create of the app is the third tenant's.
        $null = Invoke-Control POST 'faults' @{ method = 'PATCH'; pathContains = '/v1.0/applications(uniqueName='; skip = 2; hold = $true; count = 1 }
        $child = Start-Child (Get-BulkScript $tenants $vault $ledger)
        try { Wait-Held { $child.Process.HasExited } } finally { $null = Invoke-Control DELETE 'faults' }
        $child.Process.Kill($true)
        $killed = Complete-Child $child
        $killed.Text | Should -Match "result tenant=$($tenants[1].TenantId) status=Succeeded"

        # What the killed run left: two done, the third in progress (the create was served), one planned;
        # the lock of a process that is gone.
        $states = @(Get-KodoOnboardingStatus -LedgerPath $ledger)
        ($states | ForEach-Object State) | Should -Be @('Done', 'Done', 'InProgress', 'Planned')
        # (pwsh as a dotnet tool runs in a child process of the one started: the lock names that one.)
        (Get-KodoOnboardingStatus -LedgerPath $ledger -Summary).LockedBy | Should -Match '^process \d+ on .+ since \d{4}-\d\d-\d\dT'
        Test-Path -LiteralPath "$ledger.lock" | Should -BeTrue

        Clear-Log
        # Windows: Kodo does not check a lock's pid there (a seam in ledger.rs): -Force, as documented.
        $again = Invoke-Child (Get-BulkScript $tenants $vault $ledger -Force:$script:OnWindows)
        $again.ExitCode | Should -Be 0 -Because $again.Text
        if (-not $script:OnWindows) { $again.Text | Should -Match 'no longer running on this machine' -Because 'the stale lock is taken over, with a warning' }
        $again.Text | Should -Match "result tenant=$($tenants[0].TenantId) status=Skipped"
        $again.Text | Should -Match "result tenant=$($tenants[1].TenantId) status=Skipped"
        $again.Text | Should -Match "result tenant=$($tenants[2].TenantId) status=Succeeded"
        $again.Text | Should -Match "result tenant=$($tenants[3].TenantId) status=Succeeded"
        @(Get-TenantRequests $tenants[0..1]).Count | Should -Be 0 -Because 'the tenants done before the kill are not touched again'
        @(Get-TenantRequests $tenants[2]).Count | Should -BeGreaterThan 0
        foreach ($t in $tenants) {
            try { Assert-Converged $t 'Secret' "$vault-$($t.TenantId)" } catch { throw "Tenant $($t.TenantId): $_" }
        }
        $states = @(Get-KodoOnboardingStatus -LedgerPath $ledger)
        ($states | ForEach-Object State) | Should -Be @('Done', 'Done', 'Done', 'Done')
        ($states | ForEach-Object Attempts) | Should -Be @(1, 1, 2, 1)
        Test-Path -LiteralPath "$ledger.lock" | Should -BeFalse
        # Each tenant's done recorded once per run that finished it: one in all.
        foreach ($t in $tenants) { @(Get-Records $ledger | Where-Object { $_.tenantId -eq $t.TenantId -and $_.state -eq 'done' }).Count | Should -Be 1 }
    }
}

Describe 'A torn last line' {
    It 'is ignored and reported on read, cut by the next run, and its tenant run again safely' {
        $tenants = Get-Tenants 2
        $ledger = Join-Path $script:ledgerDir 'fleet-torn.jsonl'
        $null = @(Get-Rows $tenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger)
        # As if killed while writing the second tenant's 'done': half of that line, no newline.
        $text = [System.IO.File]::ReadAllText($ledger)
        $lastStart = $text.TrimEnd("`n").LastIndexOf("`n") + 1
        $half = $lastStart + [int](($text.Length - $lastStart) / 2)
        [System.IO.File]::WriteAllText($ledger, $text.Substring(0, $half))
        $s = @(Get-KodoOnboardingStatus -LedgerPath $ledger -WarningVariable w -WarningAction SilentlyContinue)
        ($s | ForEach-Object State) | Should -Be @('Done', 'InProgress')
        "$w" | Should -Match 'cut short \(line \d+'
        (Get-KodoOnboardingStatus -LedgerPath $ledger -Summary -WarningAction SilentlyContinue).TornLine | Should -BeGreaterThan 1
        Clear-Log
        $r = @(Get-Rows $tenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger -WarningVariable w2 -WarningAction SilentlyContinue)
        ($r | ForEach-Object Status) | Should -Be @('Skipped', 'Succeeded')
        "$w2" | Should -Match 'cut short'
        $r[1].ClientSecret | Should -BeNullOrEmpty -Because 'the tenant was onboarded; the re-run adds nothing'
        $null = Assert-KodoApp $tenants[1]
        $sum = Get-KodoOnboardingStatus -LedgerPath $ledger -Summary -WarningVariable w3
        $sum.TornLine | Should -BeNullOrEmpty
        $sum.Done | Should -Be 2
        $w3 | Should -BeNullOrEmpty
        Get-Content -LiteralPath $ledger | ForEach-Object { { $_ | ConvertFrom-Json } | Should -Not -Throw }
    }
}

Describe 'The lock: one run at a time' {
    BeforeAll {
        $script:lockTenants = Get-Tenants 1
        $script:lockLedger = Join-Path $script:ledgerDir 'fleet-lock.jsonl'
        $null = @(Get-Rows $lockTenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $lockLedger)
        $script:hostName = [System.Net.Dns]::GetHostName()
    }
    It 'refuses a second run while a live process holds the ledger (Kodo.LedgerLocked), changing nothing' {
        # This test process holds it, as a run in progress would.
        Set-Content -LiteralPath "$lockLedger.lock" -Value (@{ pid = $PID; host = $hostName; since = '2026-12-03T14:00:00.000Z'; runId = 'other-run' } | ConvertTo-Json -Compress) -NoNewline
        $before = (Get-FileHash -LiteralPath $lockLedger).Hash
        Clear-Log
        $err = $null
        try { $null = Get-Rows $lockTenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $lockLedger -Recheck } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -Be 'Kodo.LedgerLocked,Invoke-KodoOnboarding'
        $err.CategoryInfo.Category | Should -Be 'ResourceBusy'
        $err.Exception.Message | Should -Match ([regex]::Escape("$lockLedger.lock"))
        $err.Exception.Message | Should -Match "process $PID"
        @(Get-TenantRequests $lockTenants).Count | Should -Be 0
        (Get-FileHash -LiteralPath $lockLedger).Hash | Should -Be $before
        Test-Path -LiteralPath "$lockLedger.lock" | Should -BeTrue -Because 'the other run''s lock is left to it'
        (Get-KodoOnboardingStatus -LedgerPath $lockLedger -Summary).LockedBy | Should -Match "^process $PID on "
    }
    It 'takes over the lock of another machine only with -Force' {
        Set-Content -LiteralPath "$lockLedger.lock" -Value (@{ pid = 4242; host = 'another-machine'; since = '2026-12-03T14:00:00.000Z'; runId = 'other-run' } | ConvertTo-Json -Compress) -NoNewline
        { $null = Get-Rows $lockTenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $lockLedger } | Should -Throw -ErrorId 'Kodo.LedgerLocked,Invoke-KodoOnboarding'
        $r = @(Get-Rows $lockTenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $lockLedger -Force -WarningVariable w -WarningAction SilentlyContinue)
        $r[0].Status | Should -Be 'Skipped'
        "$w" | Should -Match '-Force was given'
        Test-Path -LiteralPath "$lockLedger.lock" | Should -BeFalse
    }
}

Describe 'Bad ledgers: a specific error, nothing changed' {
    BeforeAll { $script:badTenants = Get-Tenants 1 }
    It '<Name>' -ForEach @(
        @{ Name = 'a folder'; Kind = 'dir'; Id = 'Kodo.LedgerUnavailable'; Category = 'OpenError' }
        @{ Name = 'a file in a missing folder'; Kind = 'missing'; Id = 'Kodo.LedgerUnavailable'; Category = 'OpenError' }
        @{ Name = 'a CSV, not a Kodo ledger'; Kind = 'csv'; Id = 'Kodo.LedgerInvalid'; Category = 'InvalidData' }
        @{ Name = 'a ledger with a broken line in the middle'; Kind = 'broken'; Id = 'Kodo.LedgerInvalid'; Category = 'InvalidData' }
    ) {
        $path = Join-Path $TestDrive ('bad-' + [guid]::NewGuid().ToString('N'))
        switch ($Kind) {
            'dir' { $null = New-Item -ItemType Directory -Path $path }
            'missing' { $path = Join-Path $path 'fleet.jsonl' }
            'csv' { Set-Content -LiteralPath $path -Value "TenantId,State`ncontoso.onmicrosoft.com,done" }
            'broken' { Set-Content -LiteralPath $path -Value ('{"kodoLedger":1}', 'not json', '{"tenantId":"a.onmicrosoft.com","state":"done","time":"2026-12-03T14:00:00.000Z","runId":"r","attempt":1}') }
        }
        $before = if (Test-Path -LiteralPath $path -PathType Leaf) { (Get-FileHash -LiteralPath $path).Hash }
        Clear-Log
        { $null = Get-Rows $badTenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $path } | Should -Throw -ErrorId "$Id,Invoke-KodoOnboarding"
        $err = $null
        try { $null = Get-KodoOnboardingStatus -LedgerPath $path } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be "$Id,Get-KodoOnboardingStatus"
        $err.CategoryInfo.Category | Should -Be $Category
        if ($Kind -eq 'broken') { $err.Exception.Message | Should -Match 'line 2 is not a ledger record' }
        @(Get-TenantRequests $badTenants).Count | Should -Be 0
        Test-Path -LiteralPath "$path.lock" | Should -BeFalse
        if ($before) { (Get-FileHash -LiteralPath $path).Hash | Should -Be $before }
        if ($Kind -eq 'missing') { Test-Path -LiteralPath (Split-Path $path) | Should -BeFalse }
    }
    It 'a missing ledger has no status (Kodo.LedgerUnavailable)' {
        { Get-KodoOnboardingStatus -LedgerPath (Join-Path $TestDrive 'none.jsonl') } | Should -Throw -ErrorId 'Kodo.LedgerUnavailable,Get-KodoOnboardingStatus'
    }
    It '-Recheck without -LedgerPath is refused' {
        { $null = Get-Rows $badTenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -Recheck } | Should -Throw -ErrorId 'Kodo.InvalidArgument,Invoke-KodoOnboarding'
    }
}

Describe 'A tenant whose app management policy forbids client secrets' {
    It 'fails in a run that makes secrets, with a next action that works: the tenant with a certificate, then the same command finds it done and makes no secret' {
        $t = Get-Tenants 1
        $ledger = Join-Path $script:ledgerDir 'fleet-policy.jsonl'
        $null = Invoke-Control PATCH "tenants/$($t[0].TenantId)/appManagementPolicy" @{
            isEnabled = $true
            applicationRestrictions = @{ passwordCredentials = @(@{ restrictionType = 'passwordAddition'; maxLifetime = $null; restrictForAppsCreatedAfterDateTime = '2021-01-01T10:37:00Z' }); keyCredentials = @() }
        }

        # A run that makes client secrets: the tenant fails before anything is written.
        $r = @(Get-Rows $t | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger -ErrorVariable errs -ErrorAction SilentlyContinue)
        $r[0].Status | Should -Be 'Failed'
        $r[0].Error | Should -Match '^Kodo\.PolicyBlocked: .*blocks client secrets'
        @($errs | Where-Object { $_.FullyQualifiedErrorId -like 'Kodo.TenantFailed*' }).Count | Should -Be 1
        @(Get-KodoTaggedApps $t[0]).Count | Should -Be 0
        $s = Get-KodoOnboardingStatus -LedgerPath $ledger -TenantId $t[0].TenantId
        $s.State | Should -Be 'Failed'
        $s.NextAction | Should -Match '-CredentialType Certificate -NewCertificatePassword <SecureString> -NewCertificateFolder <folder>'

        # What the next action says: this tenant alone, same ledger, with a certificate ...
        $folder = Join-Path $TestDrive 'policy-pfx'
        $null = New-Item -ItemType Directory -Path $folder
        $password = ConvertTo-SecureString 'Ledger-Policy-Passw0rd!' -AsPlainText -Force
        $alone = @(Get-Rows $t | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger -CredentialType Certificate -NewCertificatePassword $password -NewCertificateFolder $folder)
        $alone[0].Status | Should -Be 'Succeeded'
        (Get-KodoOnboardingStatus -LedgerPath $ledger -TenantId $t[0].TenantId).State | Should -Be 'Done'
        # ... then the run without it, re-checking: done, the app found with its certificate, no secret made.
        $again = @(Get-Rows $t | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger -Recheck)
        $again[0].Status | Should -Be 'Succeeded'
        $again[0].ClientId | Should -Be $alone[0].ClientId
        $again[0].ClientSecret | Should -BeNullOrEmpty
        $apps = @(Get-KodoTaggedApps $t[0])
        $apps.Count | Should -Be 1
        @($apps[0].passwordCredentials).Count | Should -Be 0
        @($apps[0].keyCredentials).Count | Should -Be 1
    }
}

Describe 'A certificate per tenant (-TenantId -CredentialType Certificate)' {
    BeforeAll {
        $script:certPassword = ConvertTo-SecureString 'Fleet-Pfx-Passw0rd!' -AsPlainText -Force
        # A tenant's app, read plainly: its credentials and marks.
        function Get-KodoAppCredentials($Tenant) {
            $apps = @(Get-KodoTaggedApps $Tenant)
            $apps.Count | Should -Be 1
            $apps[0]
        }
    }
    It 'gives each app a certificate of its own, no secret (a tenant that forbids secrets too), each PFX in the folder and working; a re-check changes nothing' {
        $tenants = Get-Tenants 2
        $null = Invoke-Control PATCH "tenants/$($tenants[1].TenantId)/appManagementPolicy" @{
            isEnabled = $true
            applicationRestrictions = @{ passwordCredentials = @(@{ restrictionType = 'passwordAddition'; maxLifetime = $null; restrictForAppsCreatedAfterDateTime = '2021-01-01T10:37:00Z' }); keyCredentials = @() }
        }
        $folder = Join-Path $TestDrive 'pfx'
        $null = New-Item -ItemType Directory -Path $folder
        $ledger = Join-Path $script:ledgerDir 'fleet-certificates.jsonl'
        $r = @(Get-Rows $tenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger -CredentialType Certificate -NewCertificatePassword $script:certPassword -NewCertificateFolder $folder)
        ($r | ForEach-Object Status) | Should -Be @('Succeeded', 'Succeeded')
        $thumbprints = @()
        for ($i = 0; $i -lt 2; $i++) {
            $t = $tenants[$i]; $x = $r[$i]
            $x.ClientSecret | Should -BeNullOrEmpty
            $path = Join-Path $folder "Kodo-$($t.TenantId).pfx"
            $x.CredentialLocation | Should -Be "PFX file '$path'"
            $x.CertificatePfxPath | Should -Be $path
            (Get-KodoOnboardingStatus -LedgerPath $ledger -TenantId $t.TenantId).CredentialLocation | Should -Be $x.CredentialLocation
            $pfx = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList $path, $script:certPassword
            $pfx.HasPrivateKey | Should -BeTrue
            $pfx.Thumbprint | Should -Be $x.CertificateThumbprint
            $thumbprints += $pfx.Thumbprint
            $app = Assert-KodoApp $t
            @($app.passwordCredentials).Count | Should -Be 0
            @($app.keyCredentials).Count | Should -Be 1
            $app.keyCredentials[0].customKeyIdentifier | Should -Be $pfx.Thumbprint
            # The PFX signs in as the app.
            $null = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $x.ClientId -CertificatePath $path -CertificatePassword $script:certPassword
            try { (Get-KodoContext).ClientId | Should -Be $x.ClientId } finally { Disconnect-Kodo }
        }
        $thumbprints[0] | Should -Not -Be $thumbprints[1] -Because 'a certificate of its own per tenant'
        $hashes = @($tenants | ForEach-Object { (Get-FileHash -LiteralPath (Join-Path $folder "Kodo-$($_.TenantId).pfx")).Hash })

        # Again, -Recheck: each app keeps its live certificate; no PFX is written.
        $again = @(Get-Rows $tenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger -Recheck -CredentialType Certificate -NewCertificatePassword $script:certPassword -NewCertificateFolder $folder)
        ($again | ForEach-Object Status) | Should -Be @('Succeeded', 'Succeeded')
        foreach ($x in $again) { $x.PSObject.Properties['CertificatePfxPath'] | Should -BeNullOrEmpty }
        for ($i = 0; $i -lt 2; $i++) {
            (Get-FileHash -LiteralPath (Join-Path $folder "Kodo-$($tenants[$i].TenantId).pfx")).Hash | Should -Be $hashes[$i]
            $app = Get-KodoAppCredentials $tenants[$i]
            @($app.keyCredentials).Count | Should -Be 1
            $app.keyCredentials[0].customKeyIdentifier | Should -Be $thumbprints[$i]
        }
    }
    It 'SIGKILL after the second tenant got its certificate, before its PFX was written: the same command converges (one certificate, the one in the PFX)' {
        $tenants = Get-Tenants 2
        $folder = Join-Path $TestDrive 'pfx-kill'
        $null = New-Item -ItemType Directory -Path $folder
        $ledger = Join-Path $script:ledgerDir 'fleet-certificates-kill.jsonl'
        Clear-Log
        # The certificate is added with a PATCH of the app by its id (app.rs add_key); the first
        # tenant's is skipped, the second's is served and its answer held: then the kill.
        $null = Invoke-Control POST 'faults' @{ method = 'PATCH'; pathContains = '/v1.0/applications/'; skip = 1; hold = $true; count = 1 }
        $child = Start-Child (Get-BulkScript $tenants 'unused' $ledger -CertificateFolder $folder)
        try { Wait-Held { $child.Process.HasExited } } finally { $null = Invoke-Control DELETE 'faults' }
        $child.Process.Kill($true)
        $killed = Complete-Child $child
        $killed.Text | Should -Match "result tenant=$($tenants[0].TenantId) status=Succeeded"
        $killed.Text | Should -Not -Match "result tenant=$($tenants[1].TenantId)"
        Test-Path -LiteralPath (Join-Path $folder "Kodo-$($tenants[1].TenantId).pfx") | Should -BeFalse
        @((Get-KodoAppCredentials $tenants[1]).keyCredentials).Count | Should -Be 1 -Because 'the kill came after the certificate was added'

        $again = Invoke-Child (Get-BulkScript $tenants 'unused' $ledger -Force:$script:OnWindows -CertificateFolder $folder)
        $again.ExitCode | Should -Be 0 -Because $again.Text
        $again.Text | Should -Match "result tenant=$($tenants[0].TenantId) status=Skipped"
        $again.Text | Should -Match "result tenant=$($tenants[1].TenantId) status=Succeeded"
        $pfxPassword = $script:certPassword
        foreach ($t in $tenants) {
            try { Assert-Converged $t 'Certificate' (Join-Path $folder "Kodo-$($t.TenantId)") } catch { throw "Tenant $($t.TenantId): $_" }
        }
        ((Get-KodoOnboardingStatus -LedgerPath $ledger) | ForEach-Object State) | Should -Be @('Done', 'Done')
    }
    It 'a PFX that cannot be written stays on the result (Kodo.CertificateNotSaved), and the admin still holds a working certificate' {
        $t = Get-Tenants 1
        $folder = Join-Path $TestDrive 'pfx-blocked'
        $null = New-Item -ItemType Directory -Path $folder
        # A folder where the PFX file would go: the write fails.
        $null = New-Item -ItemType Directory -Path (Join-Path $folder "Kodo-$($t[0].TenantId).pfx")
        $ledger = Join-Path $script:ledgerDir 'fleet-certificates-blocked.jsonl'
        $r = @(Get-Rows $t | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger -CredentialType Certificate -NewCertificatePassword $script:certPassword -NewCertificateFolder $folder -ErrorVariable errs -ErrorAction SilentlyContinue)
        $r[0].Status | Should -Be 'Succeeded'
        @($errs | Where-Object { $_.FullyQualifiedErrorId -like 'Kodo.CertificateNotSaved*' }).Count | Should -Be 1
        $r[0].CredentialLocation | Should -Be 'resultObject'
        (Get-KodoOnboardingStatus -LedgerPath $ledger -TenantId $t[0].TenantId).CredentialLocation | Should -Be 'resultObject'
        $pfx = [System.Security.Cryptography.X509Certificates.X509Certificate2]::new([byte[]]$r[0].CertificatePfx, $script:certPassword)
        $pfx.HasPrivateKey | Should -BeTrue
        $app = Assert-KodoApp $t[0]
        @($app.keyCredentials).Count | Should -Be 1
        $app.keyCredentials[0].customKeyIdentifier | Should -Be $pfx.Thumbprint
    }
    It 'refuses bad input before any tenant: <Case>' -ForEach @(
        @{ Case = 'no PFX password'; Extra = @{} }
        @{ Case = 'with -SecretVault'; Extra = @{ SecretVault = 'KodoCertTest' } }
        @{ Case = 'a folder that is not there'; Extra = @{ NewCertificateFolder = '/nonexistent/kodo-pfx' } }
    ) {
        $t = Get-Tenants 1
        $params = @{ Environment = 'Emulator'; Confirm = $false; SkipAudit = $true; CredentialType = 'Certificate' }
        if ($Case -ne 'no PFX password') { $params.NewCertificatePassword = $script:certPassword }
        foreach ($k in $Extra.Keys) { $params[$k] = $Extra[$k] }
        if ($Case -eq 'with -SecretVault') {
            Import-Module (Join-Path $PSScriptRoot 'tools/SecretManagementStandIn/SecretManagementStandIn.psm1') -Force
            Register-TestSecretVault -Name 'KodoCertTest'
        }
        Clear-Log
        { $null = Get-Rows $t | Invoke-KodoOnboarding @params } | Should -Throw -ErrorId 'Kodo.InvalidArgument,Invoke-KodoOnboarding'
        @(Get-TenantRequests $t).Count | Should -Be 0
        $script:nextTenant--
    }
}

Describe 'A new secret into a SecretManagement vault (-SecretVault; a stand-in module, the real one unverified)' {
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'tools/SecretManagementStandIn/SecretManagementStandIn.psm1') -Force
        Register-TestSecretVault -Name 'KodoTest'
        Register-TestSecretVault -Name 'Locked' -Refuse
    }
    AfterAll { Remove-Module SecretManagementStandIn -Force -ErrorAction SilentlyContinue }
    It 'stores each secret as Kodo-(tenant id) and records only that place in the result and the ledger' {
        $tenants = Get-Tenants 2
        $ledger = Join-Path $script:ledgerDir 'fleet-vault.jsonl'
        $r = @(Get-Rows $tenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger -SecretVault 'KodoTest')
        ($r | ForEach-Object Status) | Should -Be @('Succeeded', 'Succeeded')
        foreach ($x in $r) {
            $x.ClientSecret | Should -BeNullOrEmpty -Because 'the secret went to the vault'
            $x.CredentialLocation | Should -Be "SecretManagement vault 'KodoTest', secret 'Kodo-$($x.TenantId)'"
            $held = Get-Secret -Name "Kodo-$($x.TenantId)" -Vault 'KodoTest'
            $held.UserName | Should -Be $x.ClientId
            # It works: a token for the app with it.
            $body = @{ grant_type = 'client_credentials'; client_id = $x.ClientId; client_secret = $held.GetNetworkCredential().Password; scope = 'https://graph.microsoft.com/.default' }
            (Invoke-RestMethod -Method Post -Uri "$($emu.Url)/$($x.TenantId)/oauth2/v2.0/token" -Body $body -SkipCertificateCheck).access_token | Should -Not -BeNullOrEmpty
            (Get-KodoOnboardingStatus -LedgerPath $ledger -TenantId $x.TenantId).CredentialLocation | Should -Be $x.CredentialLocation
        }
        foreach ($t in $tenants) { $null = Assert-KodoApp $t }
    }
    It "a tenant given by its domain: the secret is named by the directory's id, a name Azure Key Vault takes" {
        $t = Get-Tenants 1
        $ledger = Join-Path $script:ledgerDir 'fleet-vault-domain.jsonl'
        $byDomain = @([pscustomobject]@{ TenantId = $t[0].InitialDomain; ClientSecretCredential = $t[0].BootstrapCredential })
        $r = @($byDomain | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger -SecretVault 'KodoTest')
        $r[0].Status | Should -Be 'Succeeded'
        $name = "Kodo-$($t[0].TenantId)"
        # Key Vault secret names: letters, digits and dashes only (the Az.KeyVault vault's Set-Secret
        # sends the name to Set-AzKeyVaultSecret as it is).
        $name | Should -Match '^[0-9A-Za-z-]{1,127}$'
        $r[0].CredentialLocation | Should -Be "SecretManagement vault 'KodoTest', secret '$name'"
        (Get-Secret -Name $name -Vault 'KodoTest').UserName | Should -Be $r[0].ClientId
        (Get-KodoOnboardingStatus -LedgerPath $ledger -TenantId $t[0].TenantId).CredentialLocation | Should -Be $r[0].CredentialLocation
        $null = Assert-KodoApp $t[0]
    }
    It 'a vault that refuses the secret leaves it on the result, with Kodo.SecretVaultFailed' {
        $tenants = Get-Tenants 1
        $ledger = Join-Path $script:ledgerDir 'fleet-locked.jsonl'
        $r = @(Get-Rows $tenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger -SecretVault 'Locked' -ErrorVariable errs -ErrorAction SilentlyContinue)
        $r[0].Status | Should -Be 'Succeeded'
        $r[0].ClientSecret | Should -BeOfType [securestring]
        $r[0].CredentialLocation | Should -Be 'resultObject'
        @($errs | Where-Object { $_.FullyQualifiedErrorId -like 'Kodo.SecretVaultFailed*' }).Count | Should -Be 1
        (Get-TestSecretVaultCalls -Name 'Locked') | Should -Be 1
        (Get-KodoOnboardingStatus -LedgerPath $ledger).CredentialLocation | Should -Be 'resultObject'
    }
    It 'a vault that is not registered stops the run before any tenant (Kodo.SecretVaultNotFound)' {
        $tenants = Get-Tenants 1
        $ledger = Join-Path $script:ledgerDir 'fleet-novault.jsonl'
        Clear-Log
        { $null = Get-Rows $tenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -LedgerPath $ledger -SecretVault 'Nope' } | Should -Throw -ErrorId 'Kodo.SecretVaultNotFound,Invoke-KodoOnboarding'
        @(Get-TenantRequests $tenants).Count | Should -Be 0
        Test-Path -LiteralPath $ledger | Should -BeFalse
        $script:nextTenant--
    }
}

Describe 'Tenants in flight go on while the host takes a result' {
    It "a host slow to take one tenant's result does not hold up the other tenant in flight" {
        $tenants = Get-Tenants 2
        # The second tenant's sign-in is answered after 5 s: the first tenant's result (a new
        # secret to deliver) reaches the host while the second is still in flight.
        $null = Invoke-Control POST 'faults' @{ method = 'POST'; pathContains = "$($tenants[1].TenantId)/oauth2/v2.0/token"; delayMs = 5000; count = 1 }
        $created = { @(Get-Log | Where-Object { $_.method -eq 'PATCH' -and $_.path -like '/v1.0/applications(uniqueName=*' }).Count }
        $before = & $created
        $madeMeanwhile = New-Object System.Collections.Generic.List[int]
        try {
            $r = @(Get-Rows $tenants | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -ThrottleLimit 2 | ForEach-Object {
                    if ($madeMeanwhile.Count -eq 0) {
                        # The host holds the first result (its secret not yet delivered) until the
                        # second tenant has made its app, or 30 s. A run that stopped polling its
                        # tenants while the host held a result never gets there.
                        $deadline = [datetime]::UtcNow.AddSeconds(30)
                        while ((& $created) -lt $before + 2 -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
                        $madeMeanwhile.Add((& $created) - $before)
                    }
                    $_
                })
        } finally {
            $null = Invoke-Control DELETE 'faults'
        }
        ($r | ForEach-Object TenantId) | Should -Be @($tenants | ForEach-Object TenantId) -Because 'results come in the order given'
        ($r | ForEach-Object Status) | Should -Be @('Succeeded', 'Succeeded')
        $madeMeanwhile[0] | Should -Be 2 -Because "the second tenant made its app while the first tenant's result waited at the host"
        foreach ($t in $tenants) { $null = Assert-KodoApp $t }
    }
}

Describe 'Nothing secret in a ledger' {
    It 'no secret the emulator handed out, no sign-in secret and no token in any ledger or lock of these runs' {
        $secrets = @((Invoke-Control GET 'secrets').secrets) + @($emu.Tenants | ForEach-Object { $_.BootstrapCredential.GetNetworkCredential().Password })
        @((Invoke-Control GET 'secrets').secrets).Count | Should -BeGreaterThan 8
        $files = @(Get-ChildItem -LiteralPath $script:ledgerDir -Filter 'fleet-*')
        $files.Count | Should -BeGreaterThan 4
        $texts = @($files | ForEach-Object { Get-Content -Raw -LiteralPath $_.FullName }) + @($script:outputs)
        @(Find-KodoSecret -Text $texts -Secret $secrets) | Should -BeNullOrEmpty
    }
}
