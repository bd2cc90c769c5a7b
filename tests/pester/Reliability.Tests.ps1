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
    $script:variants = @('Secret')
    if ($env:KODO_RELIABILITY -eq 'long') { $script:variants += 'Certificate' }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $script:ManifestPath -Force
    $emu = Start-KodoEmulator -Tenants 40
    $script:nextTenant = 0
    $endpointFile = Join-Path $TestDrive 'emulator.json'
    Set-Content -LiteralPath $endpointFile -Value (@{ url = $emu.Url; caCertificate = $emu.CaCertificate } | ConvertTo-Json)
    $modulePath = (Split-Path $script:ModuleDir) + [System.IO.Path]::PathSeparator + $env:PSModulePath
    $pfxPassword = 'pfx-' + [guid]::NewGuid().ToString('N')
    $script:outputs = New-Object System.Collections.Generic.List[string]

    function Invoke-Control([string]$Method, [string]$Path, $Body) {
        $p = @{ Method = $Method; Uri = "$($emu.Url)/_emulator/$Path"; SkipCertificateCheck = $true }
        if ($null -ne $Body) { $p['Body'] = ($Body | ConvertTo-Json -Depth 6); $p['ContentType'] = 'application/json' }
        Invoke-RestMethod @p
    }
    function Get-Log { @((Invoke-Control GET 'requests') | ForEach-Object { $_ }) }
    function Get-PlainToken($Tenant) {
        $body = @{ grant_type = 'client_credentials'; client_id = $Tenant.BootstrapClientId; client_secret = $Tenant.BootstrapCredential.GetNetworkCredential().Password; scope = 'https://graph.microsoft.com/.default' }
        (Invoke-RestMethod -Method Post -Uri "$($emu.Url)/$($Tenant.TenantId)/oauth2/v2.0/token" -Body $body -SkipCertificateCheck).access_token
    }
    function Invoke-PlainGraph($Tenant, [string]$Path) {
        Invoke-RestMethod -Uri "$($emu.Url)/v1.0/$Path" -Headers @{ Authorization = "Bearer $(Get-PlainToken $Tenant)" } -SkipCertificateCheck
    }

    # The admin's script: onboards, and stores each delivered credential in its vault as the
    # result reaches it (in the pipeline, before the command returns).
    function Get-OnboardingScript($Tenant, [string]$Variant, [string]$Vault, [switch]$WhatIf) {
        $c = $Tenant.BootstrapCredential
        $common = "-Environment Emulator -Verbose -Debug"
        $call = if ($WhatIf) { "Invoke-KodoOnboarding $common -WhatIf" }
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
    function Start-Child([string]$Script) {
        $file = Join-Path $TestDrive ("child-" + [guid]::NewGuid() + '.ps1')
        Set-Content -LiteralPath $file -Value $Script -Encoding utf8
        $p = [System.Diagnostics.Process]::Start((New-PwshStartInfo -File $file -Environment @{ KODO_EMULATOR = $endpointFile; PSModulePath = $modulePath }))
        [pscustomobject]@{ Process = $p; Out = $p.StandardOutput.ReadToEndAsync(); Err = $p.StandardError.ReadToEndAsync(); File = $file }
    }
    function Complete-Child($Child, [int]$Seconds = 120) {
        if (-not $Child.Process.WaitForExit($Seconds * 1000)) { $Child.Process.Kill($true); throw "the child pwsh did not finish in $Seconds s" }
        $text = $Child.Out.Result + "`n" + $Child.Err.Result
        $script:outputs.Add($text)
        Remove-Item -LiteralPath $Child.File -ErrorAction SilentlyContinue
        [pscustomobject]@{ ExitCode = $Child.Process.ExitCode; Text = $text }
    }
    function Invoke-Child([string]$Script) { Complete-Child (Start-Child $Script) }

    # A request's key for a fault rule: its method and its path up to the first id in it.
    function Get-RequestKey($Entry) {
        $prefix = ($Entry.path -split '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}')[0]
        '{0} {1}' -f $Entry.method, $prefix
    }
    # The requests a whole onboarding sends after sign-in (tokens aside), in the order served,
    # each with how many of the same key came before it.
    function Get-KillPoints([string]$Variant) {
        $t = $emu.Tenants[$script:nextTenant++]
        $null = Invoke-Control DELETE 'requests'
        $vault = Join-Path $TestDrive "enumerate-$Variant"
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

    # The end state of a tenant, through plain Graph and the emulator's state.
    function Assert-Converged($Tenant, [string]$Variant, [string]$Vault) {
        $apps = @((Invoke-PlainGraph $Tenant "applications?`$filter=tags/any(x:startswith(x,'Kodo'))&`$select=id,appId,tags,passwordCredentials,keyCredentials").value)
        $apps.Count | Should -Be 1 -Because 'one app, never a duplicate'
        $app = $apps[0]
        @($app.tags) | Should -Be @('KodoManaged') -Because 'no mark of an undelivered secret is left'
        $sps = @((Invoke-PlainGraph $Tenant "servicePrincipals?`$filter=appId eq '$($app.appId)'&`$select=id").value)
        $sps.Count | Should -Be 1
        $assignments = @((Invoke-PlainGraph $Tenant "servicePrincipals/$($sps[0].id)/appRoleAssignments").value)
        $assignments.Count | Should -Be 18
        @($assignments | Group-Object resourceId, appRoleId | Where-Object Count -gt 1).Count | Should -Be 0
        $grants = @((Invoke-PlainGraph $Tenant "oauth2PermissionGrants?`$filter=clientId eq '$($sps[0].id)'").value)
        $grants.Count | Should -Be 2
        $ews = Invoke-Control GET "tenants/$($Tenant.TenantId)/exchange"
        @(([string]$ews.ewsAllowedAppIDs -split ',') | Where-Object { $_ -eq $app.appId }).Count | Should -Be 1
        if ($Variant -eq 'Certificate') {
            @($app.passwordCredentials).Count | Should -Be 0
            @($app.keyCredentials).Count | Should -Be 1 -Because 'one certificate: the one in the PFX the admin holds'
            $pfx = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList "$Vault.pfx", $pfxPassword
            $app.keyCredentials[0].customKeyIdentifier | Should -Be $pfx.Thumbprint
        } else {
            @($app.keyCredentials).Count | Should -Be 0
            @($app.passwordCredentials).Count | Should -Be 1 -Because 'one secret, and no orphan'
            $held = @(Get-Content -LiteralPath $Vault | ForEach-Object { $_ | ConvertFrom-Json }) | Select-Object -Last 1
            $held.clientId | Should -Be $app.appId
            $app.passwordCredentials[0].hint | Should -Be $held.secret.Substring(0, 3) -Because 'the secret left is the one the admin holds'
            # It works: a token for the app with it.
            $body = @{ grant_type = 'client_credentials'; client_id = $app.appId; client_secret = $held.secret; scope = 'https://graph.microsoft.com/.default' }
            (Invoke-RestMethod -Method Post -Uri "$($emu.Url)/$($Tenant.TenantId)/oauth2/v2.0/token" -Body $body -SkipCertificateCheck).access_token | Should -Not -BeNullOrEmpty
        }
    }
}

AfterAll {
    Stop-KodoEmulator
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'Killed after any request, the same command run again converges (<_>)' -ForEach $script:variants {
    BeforeAll {
        $variant = $_
        $points = @(Get-KillPoints $variant)
    }
    It 'has at least 8 kill points: every request of the procedure after sign-in' {
        $points.Count | Should -BeGreaterOrEqual 8
        ($points.Key -join '; ') | Should -Match 'POST /v1.0/applications'
    }
    It 'converges from a kill after each of them' {
        $report = New-Object System.Collections.Generic.List[string]
        foreach ($point in $points) {
            $t = $emu.Tenants[$script:nextTenant++]
            $vault = Join-Path $TestDrive ("vault-$variant-" + $script:nextTenant)
            $null = Invoke-Control DELETE 'faults'
            $null = Invoke-Control DELETE 'requests'
            $null = Invoke-Control POST 'faults' @{ method = $point.Method; pathContains = $point.Prefix; skip = $point.Skip; hold = $true; count = 1 }
            $child = Start-Child (Get-OnboardingScript $t $variant $vault)
            $deadline = [datetime]::UtcNow.AddSeconds(90)
            while (-not (Get-Log | Where-Object { $_.PSObject.Properties['held'] -and $_.held })) {
                if ([datetime]::UtcNow -gt $deadline -or $child.Process.HasExited) { throw "kill point $($point.Key) #$($point.Skip) was never reached" }
                Start-Sleep -Milliseconds 100
            }
            # The whole tree: pwsh as a .NET tool is a launcher and the pwsh it starts.
            $child.Process.Kill($true)
            $null = Complete-Child $child
            $null = Invoke-Control DELETE 'faults'
            # What the killed run left, as the plan of the next one says it.
            $plan = Invoke-Child (Get-OnboardingScript $t $variant $vault -WhatIf)
            $plan.ExitCode | Should -Be 0 -Because $plan.Text
            $existing = @((Invoke-PlainGraph $t "applications?`$filter=tags/any(x:x eq 'KodoManaged')&`$select=id,tags").value)
            if ($existing.Count -gt 0) {
                $plan.Text | Should -Not -Match 'Create app registration' -Because "the app the killed run made is found ($($point.Key))"
                if (@($existing[0].tags) -match '^KodoSecretPending:') {
                    $orphans = @((Invoke-PlainGraph $t "applications/$($existing[0].id)?`$select=passwordCredentials").passwordCredentials | Where-Object { $_.displayName -match ' #[0-9a-f]{8}$' })
                    if ($orphans.Count -gt 0) { $plan.Text | Should -Match 'interrupted run made it and never reported it' }
                }
            }
            $again = Invoke-Child (Get-OnboardingScript $t $variant $vault)
            $again.ExitCode | Should -Be 0 -Because "the re-run after a kill at $($point.Key) #$($point.Skip): $($again.Text)"
            $again.Text | Should -Match 'result status=Succeeded'
            try { Assert-Converged $t $variant $vault } catch { throw "After a kill at $($point.Key) #$($point.Skip): $_" }
            # A third run changes nothing: no new credential, no write.
            $null = Invoke-Control DELETE 'requests'
            $third = Invoke-Child (Get-OnboardingScript $t $variant $vault)
            $third.ExitCode | Should -Be 0 -Because $third.Text
            @(Get-Log | Where-Object { $_.method -in 'POST', 'PATCH', 'DELETE' -and $_.path -like '/v1.0/*' -and $_.path -ne '/v1.0/$batch' }) | Should -BeNullOrEmpty -Because "a converged tenant needs no write ($($point.Key) #$($point.Skip))"
            try { Assert-Converged $t $variant $vault } catch { throw "After the third run ($($point.Key) #$($point.Skip)): $_" }
            $report.Add("$($point.Key) #$($point.Skip): converged")
        }
        $report.Count | Should -Be $points.Count
        Write-Host ("Kill points ($variant): " + $report.Count + " of " + $points.Count + " converged")
    }
}

Describe 'Nothing secret in any output of those runs' {
    It 'no secret the emulator handed out, no PFX password and no token in any stream, transcript or file' {
        $secrets = @((Invoke-Control GET 'secrets').secrets)
        $secrets.Count | Should -BeGreaterThan 10
        $texts = @($script:outputs) + @(Get-ChildItem -LiteralPath $TestDrive -Filter '*.transcript' | ForEach-Object { Get-Content -Raw -LiteralPath $_.FullName })
        $texts.Count | Should -BeGreaterThan 5
        $found = New-Object System.Collections.Generic.List[string]
        foreach ($text in $texts) {
            foreach ($s in $secrets + @($pfxPassword)) { if ($text.Contains($s)) { $found.Add("a secret ($($s.Substring(0, 3))...)") } }
            if ($text -match 'eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}') { $found.Add('a JWT') }
            if ($text -match '-----BEGIN [A-Z ]*PRIVATE KEY-----') { $found.Add('a private key') }
        }
        $found | Should -BeNullOrEmpty
    }
}
