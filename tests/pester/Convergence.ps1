# The end state of an onboarded tenant, read through plain Graph and the emulator's control API
# (not through Kodo), and the leak scanner: shared by the reliability suites (kill points,
# seeded faults, concurrent runs). Dot-source it in a BeforeAll where $emu is the running emulator (and, for
# certificate runs, $pfxPassword the PFX's password), after TestHelpers.ps1 (Invoke-Control).

# The emulator of a suite whose children are pwsh processes of their own: started with $Tenants
# tenants. Returns it, the endpoint file the children read (KODO_EMULATOR, written into $Folder)
# and the PSModulePath under which they find this build's module.
function Start-ChildEmulator([int]$Tenants, [string]$Folder) {
    $emu = Start-KodoEmulator -Tenants $Tenants
    $endpointFile = Join-Path $Folder 'emulator.json'
    Set-Content -LiteralPath $endpointFile -Value (@{ url = $emu.Url; caCertificate = $emu.CaCertificate } | ConvertTo-Json)
    $emu, $endpointFile, ((Split-Path $script:ModuleDir) + [System.IO.Path]::PathSeparator + $env:PSModulePath)
}

function Get-Log { @((Invoke-Control GET 'requests') | ForEach-Object { $_ }) }
$script:plainTokens = @{}
function Get-PlainToken($Tenant, [string]$Scope = 'https://graph.microsoft.com/.default') {
    $key = "$($emu.Url) $($Tenant.TenantId) $Scope"
    if (-not $script:plainTokens[$key]) {
        $body = @{ grant_type = 'client_credentials'; client_id = $Tenant.BootstrapClientId; client_secret = $Tenant.BootstrapCredential.GetNetworkCredential().Password; scope = $Scope }
        $script:plainTokens[$key] = (Invoke-RestMethod -Method Post -Uri "$($emu.Url)/$($Tenant.TenantId)/oauth2/v2.0/token" -Body $body -SkipCertificateCheck).access_token
    }
    $script:plainTokens[$key]
}
function Invoke-PlainGraph($Tenant, [string]$Path) {
    Invoke-RestMethod -Uri "$($emu.Url)/v1.0/$Path" -Headers @{ Authorization = "Bearer $(Get-PlainToken $Tenant)" } -SkipCertificateCheck
}

# A child pwsh running $Script with the emulator's endpoint ($endpointFile) and the module
# ($modulePath) of the calling suite; its stdout and stderr are kept (and added to
# $script:outputs, for the leak scan, where the suite keeps one).
function Start-Child([string]$Script) {
    $file = Join-Path $TestDrive ("child-" + [guid]::NewGuid() + '.ps1')
    Set-Content -LiteralPath $file -Value $Script -Encoding utf8
    $p = [System.Diagnostics.Process]::Start((New-PwshStartInfo -File $file -Environment @{ KODO_EMULATOR = $endpointFile; PSModulePath = $modulePath }))
    [pscustomobject]@{ Process = $p; Out = $p.StandardOutput.ReadToEndAsync(); Err = $p.StandardError.ReadToEndAsync(); File = $file }
}
function Complete-Child($Child, [int]$Seconds = 120) {
    if (-not $Child.Process.WaitForExit($Seconds * 1000)) { $Child.Process.Kill($true); throw "the child pwsh did not finish in $Seconds s" }
    $text = $Child.Out.Result + "`n" + $Child.Err.Result
    if ($null -ne $script:outputs) { $script:outputs.Add($text) }
    Remove-Item -LiteralPath $Child.File -ErrorAction SilentlyContinue
    [pscustomobject]@{ ExitCode = $Child.Process.ExitCode; Text = $text }
}
function Invoke-Child([string]$Script) { Complete-Child (Start-Child $Script) }

# One Kodo app, its one service principal, 18 app role assignments and 2 grants without
# duplicates, no mark left, the app once on the EWS allow list; returns the app (with its
# credentials).
# The tenant's apps that carry a Kodo tag, through plain Graph: ids, tags and credentials.
function Get-KodoTaggedApps($Tenant) {
    @((Invoke-PlainGraph $Tenant "applications?`$filter=tags/any(x:startswith(x,'Kodo'))&`$select=id,appId,tags,passwordCredentials,keyCredentials").value)
}

function Assert-KodoApp($Tenant) {
    $apps = @(Get-KodoTaggedApps $Tenant)
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
    $app
}

# The end state of a tenant, through plain Graph and the emulator's state.
function Assert-Converged($Tenant, [string]$Variant, [string]$Vault) {
    $app = Assert-KodoApp $Tenant
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

# What of the secrets, JWTs and private keys is found in the texts: "a secret (abc...)", "a JWT",
# "a private key"; nothing when clean.
function Find-KodoSecret([string[]]$Text, [string[]]$Secret) {
    foreach ($t in $Text) {
        foreach ($s in $Secret) { if ($s -and $t.Contains($s)) { "a secret ($($s.Substring(0, 3))...)" } }
        if ($t -match 'eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}') { 'a JWT' }
        if ($t -match '-----BEGIN [A-Z ]*PRIVATE KEY-----') { 'a private key' }
    }
}

# The command lines and environments of a process and its descendants (Linux /proc), one line
# each: what a leak scan reads for secrets passed to or by child processes.
function Get-ProcessTreeText([int]$Root) {
    if (-not (Test-Path -LiteralPath '/proc/self/stat')) { return '' }
    $parent = @{}
    foreach ($d in Get-ChildItem -LiteralPath '/proc' -Directory | Where-Object Name -match '^\d+$') {
        try {
            $stat = [System.IO.File]::ReadAllText("$($d.FullName)/stat")
            $parent[[int]$d.Name] = [int](($stat.Substring($stat.LastIndexOf(')') + 2) -split ' ')[1])
        } catch { }
    }
    $tree = New-Object System.Collections.Generic.List[int]
    $tree.Add($Root)
    for ($i = 0; $i -lt $tree.Count; $i++) {
        foreach ($child in @($parent.Keys | Where-Object { $parent[$_] -eq $tree[$i] })) { $tree.Add($child) }
    }
    @(foreach ($p in $tree) {
            try { ([System.IO.File]::ReadAllText("/proc/$p/cmdline") + ' ' + [System.IO.File]::ReadAllText("/proc/$p/environ")) -replace "`0", ' ' } catch { }
        }) -join "`n"
}
