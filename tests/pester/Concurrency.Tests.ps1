# Concurrent runs (issue 17): two pwsh processes onboarding the same tenant at the same moment
# must leave one app, one service principal, every grant once and the app once on the EWS allow
# list, each process Succeeded or stopped with a specific error, and a re-run converges; two
# writers of the organization's EWS allow list at once must not lose each other's entries (the
# list is one string that Set-OrganizationConfig replaces whole: a read-modify-write); and 50
# tenants onboarded in one process (-ThrottleLimit at a time) all converge.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'Convergence.ps1')
    Import-Module $script:ManifestPath -Force
    $emu, $endpointFile, $modulePath = Start-ChildEmulator -Tenants 62 -Folder $TestDrive
    $script:nextTenant = 0

    # Exchange Online's admin API as any other admin tool calls it (Get-/Set-OrganizationConfig).
    function Invoke-PlainExchange($Tenant, [string]$Cmdlet, [hashtable]$Parameters) {
        $token = Get-PlainToken $Tenant 'https://outlook.office365.com/.default'
        $body = @{ CmdletInput = @{ CmdletName = $Cmdlet; Parameters = $Parameters } } | ConvertTo-Json -Depth 5
        Invoke-RestMethod -Method Post -Uri "$($emu.Url)/adminapi/beta/$($Tenant.TenantId)/InvokeCommand" -Body $body -ContentType 'application/json' `
            -Headers @{ Authorization = "Bearer $token"; 'X-AnchorMailbox' = "UPN:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@$($Tenant.InitialDomain)" } -SkipCertificateCheck
    }
    function Get-AllowList($Tenant) { @(([string](Invoke-Control GET "tenants/$($Tenant.TenantId)/exchange").ewsAllowedAppIDs -split ',') | Where-Object { $_ }) }

    # A child pwsh: signs in, writes "ready", waits for the go file (both children start their
    # command at the same moment, whatever pwsh's start-up took), runs $Call. Each result goes
    # to stdout as "result status=... clientId=..." and its secret to the vault; an error as
    # "error id=<FullyQualifiedErrorId>".
    function Get-ChildScript($Tenant, [string]$Call, [string]$Vault, [string]$Go) {
        $c = $Tenant.BootstrapCredential
        @"
`$ErrorActionPreference = 'Stop'
Import-Module Kodo
`$cred = New-Object System.Management.Automation.PSCredential -ArgumentList @('$($c.UserName)', (ConvertTo-SecureString '$($c.GetNetworkCredential().Password)' -AsPlainText -Force))
`$null = Connect-Kodo -Environment Emulator -TenantId '$($Tenant.TenantId)' -ClientSecretCredential `$cred
Set-Content -LiteralPath '$Vault.ready' -Value 'ready'
while ('$Go' -and -not (Test-Path -LiteralPath '$Go')) { Start-Sleep -Milliseconds 5 }
try {
    $Call | ForEach-Object {
        if (`$_.PSObject.Properties['ClientSecret'] -and `$_.ClientSecret) {
            `$plain = [System.Net.NetworkCredential]::new('', `$_.ClientSecret).Password
            Add-Content -LiteralPath '$Vault' -Value (@{ clientId = `$_.ClientId; secret = `$plain } | ConvertTo-Json -Compress)
        }
        "result status=`$(`$_.Status) clientId=`$(`$_.ClientId)"
    }
} catch {
    "error id=`$(`$_.FullyQualifiedErrorId) message=`$(`$_.Exception.Message)"
    exit 3
}
"@
    }
    # Runs each call in a child of its own, all started at the same moment.
    function Invoke-Together($Tenant, [string[]]$Calls, [string]$Name) {
        $go = Join-Path $TestDrive "$Name.go"
        $vaults = @($Calls | ForEach-Object -Begin { $i = 0 } -Process { Join-Path $TestDrive ("$Name-" + $i++) })
        $children = @(for ($i = 0; $i -lt $Calls.Count; $i++) { Start-Child (Get-ChildScript $Tenant $Calls[$i] $vaults[$i] $go) })
        $deadline = [datetime]::UtcNow.AddSeconds(60)
        while (@($vaults | Where-Object { -not (Test-Path -LiteralPath "$_.ready") }).Count -gt 0) {
            if ([datetime]::UtcNow -gt $deadline) { $children | ForEach-Object { $_.Process.Kill($true) }; throw 'the children never got ready' }
            Start-Sleep -Milliseconds 20
        }
        Set-Content -LiteralPath $go -Value 'go'
        for ($i = 0; $i -lt $children.Count; $i++) {
            $r = Complete-Child $children[$i]
            $r | Add-Member -NotePropertyName Vault -NotePropertyValue $vaults[$i] -PassThru
        }
    }
    function Invoke-Alone($Tenant, [string]$Call, [string]$Name) {
        $vault = Join-Path $TestDrive $Name
        $r = Complete-Child (Start-Child (Get-ChildScript $Tenant $Call $vault ''))
        $r | Add-Member -NotePropertyName Vault -NotePropertyValue $vault -PassThru
    }
    $onboard = 'Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit'

    # Succeeded, or stopped with a specific error (a Kodo error id other than the catch-alls).
    function Assert-SucceededOrSpecific($Run, [string]$Because) {
        if ($Run.ExitCode -eq 0) {
            $Run.Text | Should -Match 'result status=Succeeded' -Because $Because
        } else {
            $Run.Text | Should -Match 'error id=Kodo\.(AlreadyExists|Conflict|NotFound|ServiceError)' -Because "$Because`: $($Run.Text)"
            $Run.Text | Should -Not -Match 'error id=Kodo\.(Internal|Panic)'
        }
    }

    # The end state of a tenant through plain Graph and the emulator's state: one Kodo app and
    # one service principal, 18 assignments and 2 grants without duplicates, the app once on the
    # EWS allow list with the two apps the organization listed before, and every secret a
    # Succeeded run handed out still working.
    function Assert-ConvergedTogether($Tenant, $Runs) {
        $app = Assert-KodoApp $Tenant
        $list = Get-AllowList $Tenant
        @($list | Where-Object { $_ -eq $app.appId }).Count | Should -Be 1
        $list.Count | Should -Be 3 -Because 'the two apps listed before stay, and only the Kodo app that exists is added'
        $held = @($Runs | Where-Object { $_.ExitCode -eq 0 -and (Test-Path -LiteralPath $_.Vault) } | ForEach-Object { Get-Content -LiteralPath $_.Vault | ConvertFrom-Json })
        $held.Count | Should -BeGreaterThan 0 -Because 'some run handed a secret out'
        foreach ($h in $held) {
            $h.clientId | Should -Be $app.appId -Because 'a Succeeded run reported the app that stays'
            $body = @{ grant_type = 'client_credentials'; client_id = $h.clientId; client_secret = $h.secret; scope = 'https://graph.microsoft.com/.default' }
            { Invoke-RestMethod -Method Post -Uri "$($emu.Url)/$($Tenant.TenantId)/oauth2/v2.0/token" -Body $body -SkipCertificateCheck } |
                Should -Not -Throw -Because 'the secret a Succeeded run handed out works'
        }
    }
}

AfterAll {
    Stop-KodoEmulator
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'Two processes onboarding the same tenant at once' {
    # Round 4: this machine's clock two minutes ahead of Microsoft's. Whether the app a create
    # meets was made after the run looked is judged on Graph's clock (its Date header): on this
    # machine's, the other run's app would look made before, the interrupted run's.
    It 'round <Round> (service time <ServiceTimeMs> ms, clock <ClockOffsetMs> ms): one app, one service principal, every grant once, the app once on the EWS list; a re-run converges' -ForEach @(
        @{ Round = 1; ServiceTimeMs = 0; ClockOffsetMs = 0 }, @{ Round = 2; ServiceTimeMs = 0; ClockOffsetMs = 0 },
        @{ Round = 3; ServiceTimeMs = 40; ClockOffsetMs = 0 }, @{ Round = 4; ServiceTimeMs = 0; ClockOffsetMs = -120000 }
    ) {
        $t = $emu.Tenants[$script:nextTenant++]
        $null = Invoke-Control PATCH 'settings' @{ serviceTimeMs = $ServiceTimeMs; clockOffsetMs = $ClockOffsetMs }
        try {
            $runs = @(Invoke-Together $t @($onboard, $onboard) "same-$Round")
        } finally {
            $null = Invoke-Control PATCH 'settings' @{ serviceTimeMs = 0; clockOffsetMs = 0 }
        }
        foreach ($r in $runs) { Assert-SucceededOrSpecific $r "round $Round" }
        # Usually one completes and the other gives way; both give way only when their apps were
        # made in the same second and their random waits end within one round trip.
        $again = Invoke-Alone $t $onboard "same-$Round-again"
        $again.ExitCode | Should -Be 0 -Because $again.Text
        $again.Text | Should -Match 'result status=Succeeded'
        Assert-ConvergedTogether $t (@($runs) + $again)
        Write-Host ("Round {0} (service time {1} ms, clock {3} ms): {2}" -f $Round, $ServiceTimeMs, (($runs | ForEach-Object { if ($_.ExitCode -eq 0) { 'Succeeded' } else { ($_.Text -split "`n" | Where-Object { $_ -like 'error id=*' } | Select-Object -First 1) } }) -join '; '), $ClockOffsetMs)
    }

    It 'a second run that starts while the first is handing its secret out: the first warns that its secret was replaced' {
        # The first run's secret is marked until the admin has it (see Reliability); a second
        # run that finds the mark cannot tell a live run from a killed one and replaces the
        # secret. The first run must then say that the secret it handed out no longer works.
        $t = $emu.Tenants[$script:nextTenant++]
        $go = Join-Path $TestDrive 'stagger.go'
        $second = Start-Child (Get-ChildScript $t $onboard (Join-Path $TestDrive 'stagger-second') $go)
        $deadline = [datetime]::UtcNow.AddSeconds(60)
        while (-not (Test-Path -LiteralPath (Join-Path $TestDrive 'stagger-second.ready'))) {
            if ([datetime]::UtcNow -gt $deadline) { $second.Process.Kill($true); throw 'the second run never got ready' }
            Start-Sleep -Milliseconds 20
        }
        # The first run's confirmation (its read of the app, then the write clearing the mark)
        # waits 7 s: the second run does all its work meanwhile.
        $null = Invoke-Control DELETE 'faults'
        $null = Invoke-Control POST 'faults' @{ method = 'GET'; pathContains = '/v1.0/applications/'; delayMs = 7000; count = 1 }
        try {
            $first = Start-Child (Get-ChildScript $t $onboard (Join-Path $TestDrive 'stagger-first') '')
            while (-not ((Invoke-Control GET 'faults') | ForEach-Object { $_ } | Where-Object { $_.count -eq 0 })) {
                if ([datetime]::UtcNow -gt $deadline -or $first.Process.HasExited) { $second.Process.Kill($true); throw 'the first run never reached its confirmation' }
                Start-Sleep -Milliseconds 20
            }
            Set-Content -LiteralPath $go -Value 'go'
            $b = Complete-Child $second | Add-Member -NotePropertyName Vault -NotePropertyValue (Join-Path $TestDrive 'stagger-second') -PassThru
            $a = Complete-Child $first | Add-Member -NotePropertyName Vault -NotePropertyValue (Join-Path $TestDrive 'stagger-first') -PassThru
        } finally {
            $null = Invoke-Control DELETE 'faults'
        }
        $a.ExitCode | Should -Be 0 -Because $a.Text
        $b.ExitCode | Should -Be 0 -Because $b.Text
        $b.Text | Should -Match 'result status=Succeeded'
        $a.Text | Should -Match 'replaced the client secret this run handed out' -Because "the first run's secret no longer works, and it says so: $($a.Text)"
        Assert-ConvergedTogether $t @($b)
    }
}

Describe 'Two writers of the EWS allow list at once lose nothing' {
    It 'two Grant-KodoEwsAccess runs for different apps, started together: both apps listed, the two listed before kept (round <_>)' -ForEach 1, 2 {
        $t = $emu.Tenants[$script:nextTenant++]
        $before = Get-AllowList $t
        $a = [guid]::NewGuid().ToString(); $b = [guid]::NewGuid().ToString()
        # The second Exchange request of each run is held 300 ms: their read-modify-writes overlap.
        $null = Invoke-Control DELETE 'faults'
        $null = Invoke-Control POST 'faults' @{ method = 'POST'; pathContains = '/InvokeCommand'; skip = 2; delayMs = 300; count = 2 }
        try {
            $runs = @(Invoke-Together $t @("Grant-KodoEwsAccess -AppId $a -Confirm:`$false", "Grant-KodoEwsAccess -AppId $b -Confirm:`$false") "ews-$_")
        } finally {
            $null = Invoke-Control DELETE 'faults'
        }
        foreach ($r in $runs) { $r.ExitCode | Should -Be 0 -Because $r.Text }
        $after = Get-AllowList $t
        foreach ($id in @($before) + $a + $b) { @($after | Where-Object { $_ -eq $id }).Count | Should -Be 1 -Because "$id is on the list once (after: $($after -join ','))" }
        $after.Count | Should -Be ($before.Count + 2)
    }

    It 'another admin changes the list while Kodo onboards: their entry stays' {
        $t = $emu.Tenants[$script:nextTenant++]
        $theirs = [guid]::NewGuid().ToString()
        # Kodo reads the organization when it plans; its next Exchange request (the write, or a
        # fresh read before it) is held 1.5 s, in which another admin adds an app of theirs.
        $null = Invoke-Control DELETE 'faults'
        $null = Invoke-Control POST 'faults' @{ method = 'POST'; pathContains = '/InvokeCommand'; skip = 1; delayMs = 1500; count = 1 }
        try {
            $child = Start-Child (Get-ChildScript $t $onboard (Join-Path $TestDrive 'other-admin') '')
            $deadline = [datetime]::UtcNow.AddSeconds(60)
            while (-not ((Invoke-Control GET 'faults') | ForEach-Object { $_ } | Where-Object { $_.count -eq 0 })) {
                if ([datetime]::UtcNow -gt $deadline -or $child.Process.HasExited) { throw 'Kodo never reached its EWS write' }
                Start-Sleep -Milliseconds 20
            }
            # The other admin: a read-modify-write of their own, done within Kodo's.
            $current = @(Invoke-PlainExchange $t 'Get-OrganizationConfig' @{ RetrieveEwsOperationAccessPolicy = $true }).value[0].EwsAllowedAppIDs
            $null = Invoke-PlainExchange $t 'Set-OrganizationConfig' @{ EwsAllowedAppIDs = (@(([string]$current -split ',') | Where-Object { $_ }) + $theirs) -join ',' }
            $run = Complete-Child $child
        } finally {
            $null = Invoke-Control DELETE 'faults'
        }
        $run.ExitCode | Should -Be 0 -Because $run.Text
        $after = Get-AllowList $t
        $after | Should -Contain $theirs -Because "Kodo's write must not undo another admin's change made meanwhile (after: $($after -join ','))"
        $app = @((Invoke-PlainGraph $t "applications?`$filter=tags/any(x:x eq 'KodoManaged')&`$select=appId").value)[0]
        $after | Should -Contain $app.appId
        $after.Count | Should -Be 4
    }
}

Describe '50 tenants in parallel in one process' {
    It 'all 50 Succeeded, one app each, every tenant converged' {
        $tenants = @($emu.Tenants[$script:nextTenant..($script:nextTenant + 49)])
        $script:nextTenant += 50
        $tenants.Count | Should -Be 50
        $rows = @($tenants | ForEach-Object { [pscustomobject]@{ TenantId = $_.TenantId; ClientSecretCredential = $_.BootstrapCredential } })
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $results = @($rows | Invoke-KodoOnboarding -Environment Emulator -ThrottleLimit 16 -Confirm:$false -SkipAudit -ErrorAction Continue)
        $clock.Stop()
        $results.Count | Should -Be 50
        @($results | Where-Object Status -ne 'Succeeded' | ForEach-Object { "$($_.TenantId): $($_.Status) $($_.Error)" }) | Should -BeNullOrEmpty
        @($results.TenantId | Sort-Object -Unique).Count | Should -Be 50
        foreach ($t in $tenants) {
            $r = $results | Where-Object TenantId -eq $t.TenantId
            $vault = Join-Path $TestDrive "bulk-$($t.TenantId)"
            Add-Content -LiteralPath $vault -Value (@{ clientId = $r.ClientId; secret = [System.Net.NetworkCredential]::new('', $r.ClientSecret).Password } | ConvertTo-Json -Compress)
            try { Assert-ConvergedTogether $t @([pscustomobject]@{ ExitCode = 0; Vault = $vault }) } catch { throw "tenant $($t.TenantId): $_" }
        }
        Write-Host ("50 tenants, -ThrottleLimit 16, one process: {0:N1} s wall time" -f $clock.Elapsed.TotalSeconds)
    }
}
