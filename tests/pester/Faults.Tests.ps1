# Seeded faults: a whole onboarding runs while the emulator's chaos (PUT /_emulator/chaos) gives
# about one request in five a fault drawn from a seed: 500, 502, 503 with and without
# Retry-After, 504, a burst of 429s, the connection dropped before the request is served or
# mid-body after it was, a TCP reset of the TLS connection, an answer slower than the client's
# timeout; and the tenant's replication lag is drawn from the seed too (0 to 10 s, with Graph's
# replication-lag error bodies). Each run must end Succeeded, or stop with a specific error;
# then the plan of the next run (-WhatIf) must name what is there, and the next run, with the
# faults gone, must converge. The end state is checked through plain Graph: never a wrong one.
# A seed that fails runs again alone: KODO_FAULT_SEEDS=17 (a list: 17,42).

BeforeDiscovery {
    # The fast tier (CI) runs 12 seeds; KODO_RELIABILITY=long runs 120.
    $count = if ($env:KODO_RELIABILITY -eq 'long') { 120 } else { 12 }
    $script:seeds = if ($env:KODO_FAULT_SEEDS) { @($env:KODO_FAULT_SEEDS -split ',' | ForEach-Object { [int]$_ }) } else { @(1..$count) }
    $script:plan = @{ Seeds = $script:seeds }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'Convergence.ps1')
    Import-Module $script:ManifestPath -Force
    $script:outputs = New-Object System.Collections.Generic.List[string]
    $script:figures = New-Object System.Collections.Generic.List[object]
    # Errors a fault may end a run with: the service failed, did not answer, or throttled
    # beyond the budget. Anything else (Internal, AlreadyExists, NotFound...) is a defect.
    $script:faultErrors = @('Kodo.ServiceError', 'Kodo.ConnectionFailed', 'Kodo.Timeout', 'Kodo.Throttled')
    $script:requestTimeout = 3

    # One command, with every stream kept (as text, for the report and the leak scan).
    function Invoke-Recorded([scriptblock]$Command) {
        $records = New-Object System.Collections.Generic.List[object]
        $failure = $null
        # The transcript has what goes to the host: ShouldProcess's "What if:" lines.
        $transcript = Join-Path $TestDrive ([guid]::NewGuid().ToString() + '.transcript')
        Start-Transcript -LiteralPath $transcript | Out-Null
        try {
            & $Command *>&1 | ForEach-Object { $records.Add($_) }
        } catch {
            $failure = $_
        } finally {
            Stop-Transcript | Out-Null
        }
        $text = ($records | ForEach-Object {
                if ($_ -is [System.Management.Automation.ErrorRecord]) { "$_ $($_.FullyQualifiedErrorId) $($_.Exception) $($_.ScriptStackTrace)" } else { $_ | Out-String }
            }) -join "`n"
        if ($failure) { $text += "`n$failure $($failure.FullyQualifiedErrorId) $($failure.Exception) $($failure.ScriptStackTrace)" }
        $text += "`n" + (Get-Content -Raw -LiteralPath $transcript)
        $script:outputs.Add($text)
        [pscustomobject]@{ Results = @($records | Where-Object { $_.PSObject.TypeNames -contains 'Kodo.OnboardingResult' }); Failure = $failure; Text = $text }
    }
    function Connect-Tenant($Tenant) {
        Connect-Kodo -Environment Emulator -TenantId $Tenant.TenantId -ClientSecretCredential $Tenant.BootstrapCredential -RequestTimeoutSec $script:requestTimeout -ErrorAction Stop
    }
    # What the admin's script does with a result: keeps the secret it delivers.
    function Save-Delivered($Run, [string]$Vault) {
        foreach ($r in $Run.Results) {
            if ($r.ClientSecret) {
                $plain = [System.Net.NetworkCredential]::new('', $r.ClientSecret).Password
                Add-Content -LiteralPath $Vault -Value (@{ clientId = $r.ClientId; secret = $plain } | ConvertTo-Json -Compress)
            }
        }
    }
}

AfterAll {
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'Under seeded faults, an onboarding converges or stops cleanly, and the next run converges' -ForEach @($script:plan) {
    BeforeAll {
        # A fresh tenant per seed, from emulators of at most 30 tenants (a larger one starts
        # slowly); the secrets of each are kept for the leak scan.
        $script:secretsIssued = New-Object System.Collections.Generic.List[string]
        function Get-FreshTenant {
            if (-not $script:emu -or $script:nextTenant -ge $script:emu.Tenants.Count) {
                if ($script:emu) {
                    @((Invoke-Control GET 'secrets').secrets) | ForEach-Object { $script:secretsIssued.Add($_) }
                    Stop-KodoEmulator
                }
                $script:emu = Start-KodoEmulator -Tenants ([math]::Min($Seeds.Count, 30))
                $script:nextTenant = 0
            }
            $script:emu.Tenants[$script:nextTenant++]
        }
        $script:emu = $null
    }
    AfterAll {
        Invoke-Control DELETE 'chaos' | Out-Null
        Stop-KodoEmulator
    }

    It 'seed <_>' -ForEach $Seeds {
        $seed = $_
        $t = Get-FreshTenant
        $vault = Join-Path $TestDrive "vault-$seed"
        # Replication lag: none for half the seeds, else up to 10 s, drawn from the seed.
        $lagMs = if ($seed % 2) { 0 } else { (($seed * 7919) % 11) * 1000 }
        $null = Invoke-Control DELETE 'requests'
        $null = Invoke-Control PATCH 'settings' @{ replicationLagMs = $lagMs }
        $null = Invoke-Control PUT 'chaos' @{ seed = $seed; rate = 0.2; slowMs = ($script:requestTimeout + 1) * 1000 }
        $started = [datetime]::UtcNow
        $first = Invoke-Recorded { Connect-Tenant $t | Out-Null; Invoke-KodoOnboarding -Confirm:$false -SkipAudit -Verbose -Debug -ErrorAction Stop }
        $chaos = Invoke-Control GET 'chaos'
        $null = Invoke-Control DELETE 'chaos'
        $null = Invoke-Control PATCH 'settings' @{ replicationLagMs = 0 }
        Save-Delivered $first $vault
        $faults = @($chaos.injected.PSObject.Properties | ForEach-Object { "$($_.Name) x$($_.Value)" }) -join ', '
        $outcome = 'Succeeded'
        if ($first.Failure) {
            $id = ($first.Failure.FullyQualifiedErrorId -split ',')[0]
            $outcome = "stopped: $id"
            $id | Should -BeIn $script:faultErrors -Because "seed $seed ($faults) must stop with a fault's own error, not: $($first.Failure)"
            "$($first.Failure)" | Should -Not -BeNullOrEmpty
            # The plan of the next run names what the faulted run left. What Graph shows is read
            # first: an app still replicating may show up only between the two reads.
            $existing = @((Invoke-PlainGraph $t "applications?`$filter=tags/any(x:x eq 'KodoManaged')&`$select=id").value)
            $plan = Invoke-Recorded { Connect-Tenant $t | Out-Null; Invoke-KodoOnboarding -WhatIf -ErrorAction Stop }
            $plan.Failure | Should -BeNullOrEmpty -Because $plan.Text
            if ($existing.Count -gt 0) {
                $plan.Text | Should -Not -Match 'Create app registration' -Because "seed $seed left an app, and the plan must find it"
            }
            $again = Invoke-Recorded { Invoke-KodoOnboarding -Confirm:$false -SkipAudit -ErrorAction Stop }
            $again.Failure | Should -BeNullOrEmpty -Because "the run after seed $seed's faults: $($again.Text)"
            Save-Delivered $again $vault
            $again.Results[-1].Status | Should -Be 'Succeeded'
        } else {
            $first.Results[-1].Status | Should -Be 'Succeeded' -Because $first.Text
        }
        # What was written under lag shows in Graph's reads once it has replicated.
        if ($lagMs -gt 0) { Start-Sleep -Milliseconds ($lagMs + 200) }
        try { Assert-Converged $t 'Secret' $vault } catch { throw "Seed $seed ($faults; lag $lagMs ms; $outcome): $_" }
        $script:figures.Add([pscustomobject]@{ Seed = $seed; LagMs = $lagMs; Faults = $faults; Outcome = $outcome; Seconds = [math]::Round(([datetime]::UtcNow - $started).TotalSeconds, 1) })
    }

    It 'drew every kind of fault, and reports the runs' {
        $all = ($script:figures.Faults -join ', ')
        $kinds = if ($Seeds.Count -ge 100) {
            @('internalServerError', 'badGateway', 'serviceUnavailable', 'serviceUnavailableRetryAfter', 'gatewayTimeout', 'throttleBurst', 'dropBeforeServing', 'dropMidBody', 'tlsReset', 'slow')
        } else { @() }
        foreach ($k in $kinds) { $all | Should -Match "\b$k\b" -Because "over $($Seeds.Count) seeds every fault is drawn" }
        $stopped = @($script:figures | Where-Object Outcome -ne 'Succeeded').Count
        $script:figures | Format-Table -AutoSize | Out-String -Width 250 | Write-Host
        Write-Host ("Seeded fault runs: {0} of {0} converged ({1} succeeded under faults, {2} stopped with a fault's error and converged on the next run)" -f $script:figures.Count, ($script:figures.Count - $stopped), $stopped)
        $script:figures.Count | Should -Be $Seeds.Count
    }

    It 'left no secret, token or private key in any stream of those runs' {
        $secrets = @((Invoke-Control GET 'secrets').secrets) + @($script:secretsIssued)
        $script:outputs.Count | Should -BeGreaterThan 0
        @(Find-KodoSecret -Text $script:outputs -Secret $secrets) | Should -BeNullOrEmpty
    }
}
