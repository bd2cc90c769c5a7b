# Kill points: a whole onboarding (Invoke-KodoOnboarding, in a pwsh of its own) is killed
# (SIGKILL) right after each request it sends: the emulator serves the request (the write
# happens) and holds its answer back until the process is gone. Then -WhatIf must name what the
# killed run left, and the same command run again must converge: one app, one service
# principal, every grant once, the EWS allow list naming it once, and exactly one credential,
# the one the admin holds (the "vault" the script writes each delivered secret to, as a runbook
# writes an Automation variable). Every stream, the transcript and the files of every run are
# scanned for each secret the emulator ever handed out, for the PFX password and for tokens.

BeforeDiscovery {
    # The fast tier (CI) kills after every request of the secret variant; KODO_RELIABILITY=long
    # adds the certificate variant.
    # Each variant is a credential and a way to stop the run: SIGKILL of the pwsh host, or
    # PowerShell's stop (Ctrl+C, PowerShell.Stop()), which cancels through the C boundary.
    $script:variants = @(@{ Credential = 'Secret'; Kill = 'SIGKILL' }, @{ Credential = 'Secret'; Kill = 'Cancel' })
    # Rotate: Update-KodoAppCredential -RemoveOld on an onboarded tenant, killed after each of
    # its requests.
    if ($env:KODO_RELIABILITY -eq 'long') { $script:variants += @{ Credential = 'Certificate'; Kill = 'SIGKILL' }, @{ Credential = 'Rotate'; Kill = 'SIGKILL' } }
    # One variant again alone: KODO_KILL_VARIANTS=Rotate/SIGKILL (a list: Secret/Cancel,Rotate/SIGKILL).
    if ($env:KODO_KILL_VARIANTS) {
        $all = @(@{ Credential = 'Secret'; Kill = 'SIGKILL' }, @{ Credential = 'Secret'; Kill = 'Cancel' }, @{ Credential = 'Certificate'; Kill = 'SIGKILL' }, @{ Credential = 'Rotate'; Kill = 'SIGKILL' })
        $script:variants = @($all | Where-Object { ($env:KODO_KILL_VARIANTS -split ',') -contains "$($_.Credential)/$($_.Kill)" })
    }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'Convergence.ps1')
    Import-Module $script:ManifestPath -Force
    $emu, $endpointFile, $modulePath = Start-ChildEmulator -Tenants 72 -Folder $TestDrive
    $script:nextTenant = 0
    $pfxPassword = 'pfx-' + [guid]::NewGuid().ToString('N')
    $script:outputs = New-Object System.Collections.Generic.List[string]

    # The admin's script: onboards, and stores each delivered credential in its vault as the
    # result reaches it (in the pipeline, before the command returns).
    function Get-OnboardingScript($Tenant, [string]$Variant, [string]$Vault, [switch]$WhatIf) {
        $c = $Tenant.BootstrapCredential
        $common = "-Environment Emulator -Verbose -Debug"
        $call = if ($Variant -eq 'Rotate') {
                $what = if ($WhatIf) { '-WhatIf' } else { '-Confirm:$false' }
                "Get-KodoApp | Update-KodoAppCredential -RemoveOld -Verbose -Debug $what"
            } elseif ($WhatIf) { "Invoke-KodoOnboarding $common -WhatIf" }
            elseif ($Variant -eq 'Certificate') { "Invoke-KodoOnboarding $common -Confirm:`$false -SkipAudit -CredentialType Certificate -NewCertificatePassword (ConvertTo-SecureString '$pfxPassword' -AsPlainText -Force) -NewCertificatePath '$Vault.pfx'" }
            else { "Invoke-KodoOnboarding $common -Confirm:`$false -SkipAudit" }
        @"
`$ErrorActionPreference = 'Stop'
`$DebugPreference = 'Continue'
Start-Transcript -LiteralPath '$Vault.transcript' | Out-Null
Import-Module Kodo
`$cred = New-Object System.Management.Automation.PSCredential -ArgumentList @('$($c.UserName)', (ConvertTo-SecureString '$($c.GetNetworkCredential().Password)' -AsPlainText -Force))
`$null = Connect-Kodo -Environment Emulator -TenantId '$($Tenant.TenantId)' -ClientSecretCredential `$cred
$call | ForEach-Object {
    if (`$_.ClientSecret) {
        `$plain = [System.Net.NetworkCredential]::new('', `$_.ClientSecret).Password
        Add-Content -LiteralPath '$Vault' -Value (@{ clientId = `$_.ClientId; secret = `$plain } | ConvertTo-Json -Compress)
    }
    "result status=`$(`$_.Status) clientId=`$(`$_.ClientId) thumbprint=`$(`$_.CertificateThumbprint)"
}
Stop-Transcript | Out-Null
"@
    }

    $script:processesScanned = 0
    # What a running child and the processes under it carry in their arguments and environment,
    # for the leak scan.
    function Add-ProcessScan([System.Diagnostics.Process]$Process) {
        $tree = Get-ProcessTreeText $Process.Id
        $script:outputs.Add($tree)
        $script:processesScanned += @($tree -split "`n" | Where-Object { $_ }).Count
    }
    # Waits until the emulator holds the answer of the kill point's request.
    function Wait-Held([scriptblock]$Gone, $Point) {
        $deadline = [datetime]::UtcNow.AddSeconds(90)
        while (-not (Get-Log | Where-Object { $_.PSObject.Properties['held'] -and $_.held })) {
            if ([datetime]::UtcNow -gt $deadline -or (& $Gone)) { throw "kill point $($Point.Key) #$($Point.Skip) was never reached" }
            Start-Sleep -Milliseconds 100
        }
    }
    # The onboarding in a runspace of this process, stopped (as Ctrl+C does) while its request is
    # held: the module cancels the native operation through the C boundary. The stop must
    # return at once, with the run's error Kodo.Cancelled or PowerShell's own stop.
    function Stop-InProcess($Tenant, [string]$Vault, $Point) {
        $c = $Tenant.BootstrapCredential
        $runspace = [runspacefactory]::CreateRunspace()
        $runspace.Open()
        $ps = [powershell]::Create()
        $ps.Runspace = $runspace
        $null = $ps.AddScript({
                param($Manifest, $TenantId, $Credential, $Vault, $Endpoint)
                $ErrorActionPreference = 'Stop'
                $env:KODO_EMULATOR = $Endpoint
                Import-Module $Manifest
                $null = Connect-Kodo -Environment Emulator -TenantId $TenantId -ClientSecretCredential $Credential
                Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -SkipAudit -Verbose | ForEach-Object {
                    if ($_.ClientSecret) {
                        $plain = [System.Net.NetworkCredential]::new('', $_.ClientSecret).Password
                        Add-Content -LiteralPath $Vault -Value (@{ clientId = $_.ClientId; secret = $plain } | ConvertTo-Json -Compress)
                    }
                }
            }).AddArgument($script:ManifestPath).AddArgument($Tenant.TenantId).AddArgument($c).AddArgument($Vault).AddArgument($endpointFile)
        $async = $ps.BeginInvoke()
        try {
            Wait-Held { $async.IsCompleted } $Point
            $watch = [System.Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 15 -Because "a stop at $($Point.Key) cancels the native operation at once"
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
            $script:outputs.Add((@($ps.Streams.Error) + @($ps.Streams.Verbose) + @($ps.Streams.Warning) | Out-String))
        } finally {
            $ps.Dispose()
            $runspace.Dispose()
        }
    }

    # A request's key for a fault rule: its method and its path up to the first id in it.
    function Get-RequestKey($Entry) {
        $prefix = ($Entry.path -split '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}')[0]
        '{0} {1}' -f $Entry.method, $prefix
    }
    # The requests a whole onboarding sends after sign-in (tokens aside), in the order served,
    # each with how many of the same key came before it.
    # An onboarded tenant, its secret in the vault: where a rotation starts.
    function Initialize-Onboarded($Tenant, [string]$Vault) {
        $r = Invoke-Child (Get-OnboardingScript $Tenant 'Secret' $Vault)
        $r.ExitCode | Should -Be 0 -Because $r.Text
    }
    function Get-KillPoints([string]$Variant) {
        $t = $emu.Tenants[$script:nextTenant++]
        $null = Invoke-Control DELETE 'requests'
        $vault = Join-Path $TestDrive "enumerate-$Variant"
        if ($Variant -eq 'Rotate') {
            Initialize-Onboarded $t $vault
            $null = Invoke-Control DELETE 'requests'
        }
        $r = Invoke-Child (Get-OnboardingScript $t $Variant $vault)
        $r.ExitCode | Should -Be 0 -Because $r.Text
        $seen = @{}
        foreach ($e in Get-Log | Where-Object { -not $_.batch -and $_.path -notlike '*/oauth2/*' -and $_.path -notlike '/_emulator/*' }) {
            $key = Get-RequestKey $e
            $n = [int]$seen[$key]
            $seen[$key] = $n + 1
            [pscustomobject]@{ Key = $key; Method = $e.method; Prefix = ($key -split ' ', 2)[1]; Skip = $n }
        }
    }

}

AfterAll {
    Stop-KodoEmulator
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'Stopped after any request, the same command run again converges (<Credential>, <Kill>)' -ForEach $script:variants {
    BeforeAll {
        $variant = $Credential
        $points = @(Get-KillPoints $variant)
    }
    It 'has a kill point after every request of the command after sign-in' {
        if ($variant -eq 'Rotate') {
            $points.Count | Should -BeGreaterOrEqual 3
            ($points.Key -join '; ') | Should -Match 'POST /v1.0/applications/' -Because 'addPassword and removePassword are among them'
        } else {
            $points.Count | Should -BeGreaterOrEqual 8
            ($points.Key -join '; ') | Should -Match 'PATCH /v1.0/applications\(uniqueName='
        }
    }
    It 'converges from a kill after each of them' {
        $report = New-Object System.Collections.Generic.List[string]
        foreach ($point in $points) {
            $t = $emu.Tenants[$script:nextTenant++]
            $vault = Join-Path $TestDrive ("vault-$variant-" + $script:nextTenant)
            if ($variant -eq 'Rotate') { Initialize-Onboarded $t $vault }
            $converged = if ($variant -eq 'Rotate') { 'Secret' } else { $variant }
            $null = Invoke-Control DELETE 'faults'
            $null = Invoke-Control DELETE 'requests'
            $null = Invoke-Control POST 'faults' @{ method = $point.Method; pathContains = $point.Prefix; skip = $point.Skip; hold = $true; count = 1 }
            if ($Kill -eq 'Cancel') {
                Stop-InProcess $t $vault $point
            } else {
                $child = Start-Child (Get-OnboardingScript $t $variant $vault)
                Wait-Held { $child.Process.HasExited } $point
                Add-ProcessScan $child.Process
                # The whole tree: pwsh as a .NET tool is a launcher and the pwsh it starts.
                $child.Process.Kill($true)
                $null = Complete-Child $child
            }
            $null = Invoke-Control DELETE 'faults'
            # What the killed run left, as the plan of the next one says it.
            $plan = Invoke-Child (Get-OnboardingScript $t $variant $vault -WhatIf)
            $plan.ExitCode | Should -Be 0 -Because $plan.Text
            $existing = @((Invoke-PlainGraph $t "applications?`$filter=tags/any(x:x eq 'KodoManaged')&`$select=id,tags").value)
            if ($existing.Count -gt 0) {
                $plan.Text | Should -Not -Match 'Create app registration' -Because "the app the killed run made is found ($($point.Key))"
                $nonces = @(@($existing[0].tags) | Where-Object { $_ -match '^KodoSecretPending:' } | ForEach-Object { $_.Substring('KodoSecretPending:'.Length) })
                if ($nonces.Count -gt 0) {
                    $orphans = @((Invoke-PlainGraph $t "applications/$($existing[0].id)?`$select=passwordCredentials").passwordCredentials | Where-Object { $_.displayName -match ' #([0-9a-f]{8})$' -and $nonces -contains $Matches[1] })
                    if ($orphans.Count -gt 0) { $plan.Text | Should -Match 'interrupted run made it and never reported it' }
                }
            }
            $again = Invoke-Child (Get-OnboardingScript $t $variant $vault)
            $again.ExitCode | Should -Be 0 -Because "the re-run after a kill at $($point.Key) #$($point.Skip): $($again.Text)"
            if ($variant -ne 'Rotate') { $again.Text | Should -Match 'result status=Succeeded' }
            try { Assert-Converged $t $converged $vault } catch { throw "After a kill at $($point.Key) #$($point.Skip): $_" }
            # A third run changes nothing: no new credential, no write (a rotation always makes one).
            if ($variant -eq 'Rotate') {
                $report.Add("$($point.Key) #$($point.Skip): converged")
                continue
            }
            $null = Invoke-Control DELETE 'requests'
            $third = Invoke-Child (Get-OnboardingScript $t $variant $vault)
            $third.ExitCode | Should -Be 0 -Because $third.Text
            @(Get-Log | Where-Object { $_.method -in 'POST', 'PATCH', 'DELETE' -and $_.path -like '/v1.0/*' -and $_.path -ne '/v1.0/$batch' }) | Should -BeNullOrEmpty -Because "a converged tenant needs no write ($($point.Key) #$($point.Skip))"
            try { Assert-Converged $t $variant $vault } catch { throw "After the third run ($($point.Key) #$($point.Skip)): $_" }
            $report.Add("$($point.Key) #$($point.Skip): converged")
        }
        $report.Count | Should -Be $points.Count
        Write-Host ("Kill points ($variant, $Kill): " + $report.Count + " of " + $points.Count + " converged")
    }
}

Describe 'A bulk run killed mid-way: the same command run again onboards each tenant exactly once' {
    BeforeAll {
        # Four tenants, one at a time (-ThrottleLimit 1), so that the N-th create or delivery
        # is the N-th tenant's; each tenant's delivered secrets go to a vault of its own.
        function Get-BulkScript($Tenants, [string]$Vault) {
            $rows = ($Tenants | ForEach-Object {
                    $c = $_.BootstrapCredential
                    "[pscustomobject]@{ TenantId = '$($_.TenantId)'; ClientSecretCredential = (New-Object System.Management.Automation.PSCredential -ArgumentList @('$($c.UserName)', (ConvertTo-SecureString '$($c.GetNetworkCredential().Password)' -AsPlainText -Force))) }"
                }) -join ",`n"
            @"
`$ErrorActionPreference = 'Stop'
Import-Module Kodo
@(
$rows
) | Invoke-KodoOnboarding -Environment Emulator -Confirm:`$false -SkipAudit -ThrottleLimit 1 -Verbose | ForEach-Object {
    if (`$_.ClientSecret) {
        `$plain = [System.Net.NetworkCredential]::new('', `$_.ClientSecret).Password
        Add-Content -LiteralPath ('$Vault-' + `$_.TenantId) -Value (@{ clientId = `$_.ClientId; secret = `$plain } | ConvertTo-Json -Compress)
    }
    "result tenant=`$(`$_.TenantId) status=`$(`$_.Status)"
}
"@
        }
    }
    It 'after the kill at <Name>' -ForEach @(
        @{ Name = "the second tenant's app"; Method = 'PATCH'; Prefix = '/v1.0/applications(uniqueName='; Skip = 1 }
        @{ Name = "the second tenant's service principal and secret"; Method = 'POST'; Prefix = '/v1.0/$batch'; Skip = 4 }
        @{ Name = "the fourth tenant's app"; Method = 'PATCH'; Prefix = '/v1.0/applications(uniqueName='; Skip = 3 }
    ) {
        $tenants = @(0..3 | ForEach-Object { $emu.Tenants[$script:nextTenant++] })
        $vault = Join-Path $TestDrive ('bulk-' + [guid]::NewGuid().ToString('N'))
        $null = Invoke-Control DELETE 'requests'
        $null = Invoke-Control POST 'faults' @{ method = $Method; pathContains = $Prefix; skip = $Skip; hold = $true; count = 1 }
        $child = Start-Child (Get-BulkScript $tenants $vault)
        try { Wait-Held { $child.Process.HasExited } @{ Key = $Name; Skip = $Skip } } finally { $null = Invoke-Control DELETE 'faults' }
        Add-ProcessScan $child.Process
        $child.Process.Kill($true)
        $null = Complete-Child $child
        $again = Invoke-Child (Get-BulkScript $tenants $vault)
        $again.ExitCode | Should -Be 0 -Because $again.Text
        foreach ($t in $tenants) {
            $again.Text | Should -Match "result tenant=$($t.TenantId) status=Succeeded"
            try { Assert-Converged $t 'Secret' "$vault-$($t.TenantId)" } catch { throw "Tenant $($t.TenantId) after the kill at $Name`: $_" }
        }
    }
}

Describe 'Nothing secret in any output of those runs' {
    It 'no secret the emulator handed out, no PFX password and no token in any stream, transcript or file' {
        $secrets = @((Invoke-Control GET 'secrets').secrets)
        $secrets.Count | Should -BeGreaterThan 10
        $texts = @($script:outputs) + @(Get-ChildItem -LiteralPath $TestDrive -Filter '*.transcript' | ForEach-Object { Get-Content -Raw -LiteralPath $_.FullName })
        $texts.Count | Should -BeGreaterThan 5
        $script:processesScanned | Should -BeGreaterThan 0 -Because 'the arguments and environment of the killed runs'' processes are scanned'
        $found = @(Find-KodoSecret -Text $texts -Secret ($secrets + @($pfxPassword)))
        $found | Should -BeNullOrEmpty
    }
}
