# Connect-Kodo against the tenant emulator: every sign-in flow, the errors admins hit, and proof
# that no secret or token reaches any output stream.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $script:ManifestPath -Force
    $emu = Start-KodoEmulator -AutoApproveDeviceCodes
    $t = $emu.Tenants[0]
    $secretText = $t.BootstrapCredential.GetNetworkCredential().Password
    $kodo = Get-Module Kodo

    # Everything a command writes, in every stream, as text.
    function Invoke-Captured([scriptblock]$Script) {
        $VerbosePreference = 'Continue'; $DebugPreference = 'Continue'; $InformationPreference = 'Continue'; $WarningPreference = 'Continue'
        $out = & { try { & $Script } catch { $_ } } *>&1 | ForEach-Object { $_ | Out-String; if ($_ -is [System.Management.Automation.ErrorRecord]) { $_.Exception.ToString(); $_.ErrorDetails | Out-String; $_.TargetObject | Out-String } }
        $out -join "`n"
    }

    function Get-EmulatorToken([string]$Scope) {
        # A token obtained outside Kodo (test-only trust of the emulator's self-made CA).
        $body = @{ grant_type = 'client_credentials'; client_id = $t.BootstrapClientId; client_secret = $secretText; scope = $Scope }
        (Invoke-RestMethod -Method Post -Uri "$($emu.Url)/$($t.TenantId)/oauth2/v2.0/token" -Body $body -SkipCertificateCheck).access_token
    }
}

AfterAll {
    Stop-KodoEmulator
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'Connect-Kodo signs in by every flow' {
    AfterEach { Disconnect-Kodo }

    It 'with a client secret (PSCredential)' {
        $c = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientSecretCredential $t.BootstrapCredential
        $c.PSTypeNames | Should -Contain 'Kodo.Context'
        $c.IdentityKind | Should -Be 'ClientSecret'
        $c.TenantId | Should -Be $t.TenantId
        $c.ClientId | Should -Be $t.BootstrapClientId
        $c.AppOnly | Should -BeTrue
        $c.Roles | Should -Contain 'Application.ReadWrite.All'
        $c.TokenExpiresOn | Should -BeGreaterThan ([datetime]::UtcNow.AddMinutes(50))
        (Get-KodoContext).TenantId | Should -Be $t.TenantId
    }

    It 'with the tenant given as its initial domain' {
        (Connect-Kodo -Environment Emulator -TenantId $t.InitialDomain -ClientSecretCredential $t.BootstrapCredential).TenantId | Should -Be $t.TenantId
    }

    It 'with a certificate from a PEM file (signed in Rust)' {
        $c = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $t.BootstrapClientId -CertificatePath $t.BootstrapCertificatePath
        $c.IdentityKind | Should -Be 'Certificate'
        $c.CertificateThumbprint | Should -Be $t.BootstrapCertificateThumbprint
    }

    It 'refuses a PEM file whose key is not its certificate''s, or is not RSA, before any request' {
        # Rust signs PEM keys through ring (constant-time); the key is matched to the certificate
        # first, so a wrong key never reaches the token endpoint.
        $certPem = (Get-Content -Raw $t.BootstrapCertificatePath).Split('-----BEGIN PRIVATE KEY-----')[0]
        $certPem | Should -Match 'BEGIN CERTIFICATE'
        $rsa = [System.Security.Cryptography.RSA]::Create(2048)
        $ec = [System.Security.Cryptography.ECDsa]::Create()
        $cases = @(
            @{ Key = $rsa.ExportPkcs8PrivateKey(); Message = 'does not belong to its certificate' },
            @{ Key = $ec.ExportPkcs8PrivateKey(); Message = 'not an RSA PKCS#8 key' }
        )
        foreach ($case in $cases) {
            $pem = Join-Path $TestDrive 'foreign.pem'
            $keyText = [Convert]::ToBase64String($case.Key, 'InsertLineBreaks')
            Set-Content -LiteralPath $pem -Value "$certPem-----BEGIN PRIVATE KEY-----`n$keyText`n-----END PRIVATE KEY-----`n" -NoNewline
            Clear-Log
            $err = { Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $t.BootstrapClientId -CertificatePath $pem } |
                Should -Throw -ErrorId 'Kodo.InvalidArgument,Connect-Kodo' -PassThru
            $err.Exception.Message | Should -Match ([regex]::Escape($case.Message))
            @(Get-Log | Where-Object { $_.path -like '*/oauth2/v2.0/token' }) | Should -BeNullOrEmpty
        }
    }

    It 'with an X509Certificate2 (the key stays in .NET, which signs)' {
        $cert = [System.Security.Cryptography.X509Certificates.X509Certificate2]::CreateFromPemFile($t.BootstrapCertificatePath)
        $c = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $t.BootstrapClientId -Certificate $cert
        $c.IdentityKind | Should -Be 'Certificate'
        $c.CertificateThumbprint | Should -Be $cert.Thumbprint
    }

    It 'with a password-protected PFX file' {
        $cert = [System.Security.Cryptography.X509Certificates.X509Certificate2]::CreateFromPemFile($t.BootstrapCertificatePath)
        $password = ConvertTo-SecureString 'pfx-Passw0rd!' -AsPlainText -Force
        $pfx = Join-Path $TestDrive 'kodo.pfx'
        [System.IO.File]::WriteAllBytes($pfx, $cert.Export([System.Security.Cryptography.X509Certificates.X509ContentType]::Pfx, $password))
        (Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $t.BootstrapClientId -CertificatePath $pfx -CertificatePassword $password).IdentityKind | Should -Be 'Certificate'
        $wrong = ConvertTo-SecureString 'nope' -AsPlainText -Force
        { Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $t.BootstrapClientId -CertificatePath $pfx -CertificatePassword $wrong } |
            Should -Throw -ErrorId 'Kodo.CertificateFileUnreadable,Connect-Kodo'
    }

    It 'with a thumbprint from the certificate store' {
        $cert = [System.Security.Cryptography.X509Certificates.X509Certificate2]::CreateFromPemFile($t.BootstrapCertificatePath)
        $flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]'PersistKeySet, Exportable'
        $stored = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2 -ArgumentList @($cert.Export('Pfx', 'x'), 'x', $flags)
        $store = New-Object System.Security.Cryptography.X509Certificates.X509Store -ArgumentList @('My', 'CurrentUser')
        $store.Open('ReadWrite'); $store.Add($stored); $store.Close()
        try {
            $c = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $t.BootstrapClientId -CertificateThumbprint $cert.Thumbprint
            $c.CertificateThumbprint | Should -Be $cert.Thumbprint
        } finally {
            $store.Open('ReadWrite'); $store.Remove($stored); $store.Close()
        }
        { Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $t.BootstrapClientId -CertificateThumbprint ('AB' * 20) } |
            Should -Throw -ErrorId 'Kodo.CertificateNotFound,Connect-Kodo'
    }

    It 'with a device code: the prompt reaches the user and the token is delegated' {
        $all = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $t.BootstrapClientId -UseDeviceCode 6>&1
        $prompt = $all | Where-Object { $_ -is [System.Management.Automation.InformationRecord] -and $_.Tags -contains 'Kodo.Prompt' }
        "$($prompt.MessageData.Message)" | Should -Match 'enter the code [A-Z0-9]+ to authenticate'
        $c = $all | Where-Object { $_.PSTypeNames -contains 'Kodo.Context' }
        $c.IdentityKind | Should -Be 'DeviceCode'
        $c.AppOnly | Should -BeFalse
        $c.Account | Should -Be "admin@$($t.InitialDomain)"
        $c.Scopes | Should -Contain 'Application.ReadWrite.All'
        $c.Scopes | Should -Contain 'Policy.Read.All' -Because 'app management policies are read before a credential is made'
        $c.Scopes | Should -Not -Contain 'Mail.Read'
        # A delegated admin plans an app (the policy read included) and reads Exchange's EWS
        # settings: the sign-in carries what the procedure needs.
        $plan = & (Get-Module Kodo) { Invoke-KodoNative -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'app.ensure'; displayName = 'KODO delegated'; approval = @{ dryRun = $true } }) }
        @($plan.plan | ForEach-Object id) | Should -Contain 'addPassword'
        $ews = & (Get-Module Kodo) { param($Id) Invoke-KodoNative -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'ews.grant'; appId = $Id; approval = @{ dryRun = $true } }) } $t.BootstrapClientId
        $ews.status | Should -BeIn 'AlreadyAllowed', 'NotApproved', 'ManualActionRequired'
    }

    It 'with the managed identity of a runbook (only IDENTITY_ENDPOINT and IDENTITY_HEADER set)' {
        $r = Invoke-FreshPwsh -Environment @{ IDENTITY_ENDPOINT = $emu.IdentityEndpoint; IDENTITY_HEADER = $emu.IdentityHeader; KODO_EMULATOR = $null } -Script @"
`$ErrorActionPreference = 'Stop'
Import-Module '$($script:ManifestPath)'
Set-Content -LiteralPath (Join-Path ([IO.Path]::GetTempPath()) 'kodo-emu-$PID.json') -Value (@{ url = '$($emu.Url)'; caCertificate = '$($emu.CaCertificate)' } | ConvertTo-Json)
`$env:KODO_EMULATOR = Join-Path ([IO.Path]::GetTempPath()) 'kodo-emu-$PID.json'
`$c = Connect-Kodo -Environment Emulator -Identity
"kind=`$(`$c.IdentityKind) tenant=`$(`$c.TenantId) client=`$(`$c.ClientId) roles=`$(`$c.Roles -join ',')"
"@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.StdOut | Should -Match "kind=ManagedIdentity tenant=$($t.TenantId) client=$($t.ManagedIdentityClientId)"
        $r.StdOut | Should -Match 'roles=.*Application\.ReadWrite\.All'
    }

    It 'with an access token already held (decoded, not refreshed)' {
        $token = Get-EmulatorToken 'https://graph.microsoft.com/.default'
        $c = Connect-Kodo -Environment Emulator -AccessToken (ConvertTo-SecureString $token -AsPlainText -Force)
        $c.IdentityKind | Should -Be 'AccessToken'
        $c.TenantId | Should -Be $t.TenantId
        $c.ClientId | Should -Be $t.BootstrapClientId
    }

    It 'with an access token already held that this machine''s clock, ahead of Microsoft''s, sees as expired a minute ago' {
        # Microsoft's clock (the emulator's) an hour and a minute behind this machine's: the token
        # it issues now (3 599 s) ends a minute before this machine's now, and is valid for the
        # service. Kodo leaves that judgement to the service (within the 5-minute skew).
        $offset = (Invoke-Control GET 'settings').clockOffsetMs
        $null = Invoke-Control PATCH 'settings' @{ clockOffsetMs = $offset - 3660000 }
        try {
            $token = Get-EmulatorToken 'https://graph.microsoft.com/.default'
            $null = Connect-Kodo -Environment Emulator -AccessToken (ConvertTo-SecureString $token -AsPlainText -Force)
            { Get-KodoApp -ErrorAction Stop } | Should -Not -Throw -Because 'Graph accepts the token'
        } finally {
            $null = Invoke-Control PATCH 'settings' @{ clockOffsetMs = $offset }
            Disconnect-Kodo
        }
    }
}

Describe 'Connect-Kodo explains what went wrong' {
    It '<Case>' -ForEach @(
        @{ Case = 'wrong secret'; Id = 'Kodo.AuthenticationFailed'; Category = 'AuthenticationError'; Pattern = 'secret .* is wrong.*AADSTS7000215'
           Call = { Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientSecretCredential (New-Object PSCredential $t.BootstrapClientId, (ConvertTo-SecureString 'not-the-secret' -AsPlainText -Force)) } }
        @{ Case = 'app not in the tenant'; Id = 'Kodo.NotFound'; Category = 'ObjectNotFound'; Pattern = 'was not found in tenant.*AADSTS700016'
           Call = { Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientSecretCredential (New-Object PSCredential ([guid]::NewGuid().ToString()), (ConvertTo-SecureString 'x' -AsPlainText -Force)) } }
        @{ Case = 'unknown tenant'; Id = 'Kodo.NotFound'; Category = 'ObjectNotFound'; Pattern = "Tenant 'nosuch.onmicrosoft.com' was not found.*AADSTS90002"
           Call = { Connect-Kodo -Environment Emulator -TenantId 'nosuch.onmicrosoft.com' -ClientSecretCredential $t.BootstrapCredential } }
        @{ Case = 'malformed tenant'; Id = 'Kodo.InvalidArgument'; Category = 'InvalidArgument'; Pattern = 'neither a GUID nor a domain'
           Call = { Connect-Kodo -Environment Emulator -TenantId 'not a tenant!' -ClientSecretCredential $t.BootstrapCredential } }
        @{ Case = 'malformed client id'; Id = 'Kodo.InvalidArgument'; Category = 'InvalidArgument'; Pattern = 'is not a GUID'
           Call = { Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientSecretCredential (New-Object PSCredential 'kodo-app', (ConvertTo-SecureString 'x' -AsPlainText -Force)) } }
        @{ Case = 'certificate not registered on the app'; Id = 'Kodo.AuthenticationFailed'; Category = 'AuthenticationError'; Pattern = 'not registered on app.*AADSTS700027'
           Call = {
                $other = New-Object System.Security.Cryptography.X509Certificates.CertificateRequest -ArgumentList @('CN=stranger', [System.Security.Cryptography.RSA]::Create(2048), [System.Security.Cryptography.HashAlgorithmName]::SHA256, [System.Security.Cryptography.RSASignaturePadding]::Pkcs1)
                $cert = $other.CreateSelfSigned([datetimeoffset]::UtcNow.AddDays(-1), [datetimeoffset]::UtcNow.AddDays(30))
                Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $t.BootstrapClientId -Certificate $cert } }
        @{ Case = 'managed identity not enabled'; Id = 'Kodo.AuthenticationFailed'; Category = 'AuthenticationError'; Pattern = 'refused the token request.*identity is enabled'
           Call = {
                $env:IDENTITY_ENDPOINT = $emu.IdentityEndpoint; $env:IDENTITY_HEADER = 'wrong-header'
                try { Connect-Kodo -Environment Emulator -Identity } finally { Remove-Item Env:IDENTITY_ENDPOINT, Env:IDENTITY_HEADER } } }
        @{ Case = 'managed identity in emulator mode with no endpoint: Azure instance metadata is off this machine, never contacted'; Id = 'Kodo.InvalidArgument'; Category = 'InvalidArgument'; Pattern = 'sends nothing off this machine.*169\.254\.169\.254'
           Call = {
                foreach ($v in 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'KODO_IMDS_ENDPOINT') { Remove-Item "Env:$v" -ErrorAction SilentlyContinue }
                Connect-Kodo -Environment Emulator -Identity } }
        @{ Case = 'managed identity in emulator mode at a non-loopback address'; Id = 'Kodo.InvalidArgument'; Category = 'InvalidArgument'; Pattern = 'sends nothing off this machine.*10\.20\.30\.40'
           Call = {
                $env:IDENTITY_ENDPOINT = 'http://10.20.30.40:8081/msi/token'; $env:IDENTITY_HEADER = 'h'
                try { Connect-Kodo -Environment Emulator -Identity } finally { Remove-Item Env:IDENTITY_ENDPOINT, Env:IDENTITY_HEADER } } }
        @{ Case = 'expired access token'; Id = 'Kodo.AuthenticationFailed'; Category = 'AuthenticationError'; Pattern = 'expired'
           Call = {
                $claims = '{"aud":"https://graph.microsoft.com","tid":"' + $t.TenantId + '","appid":"' + $t.BootstrapClientId + '","exp":1000000000,"roles":["Organization.Read.All"]}'
                $b64 = { param($s) [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($s)).TrimEnd('=').Replace('+', '-').Replace('/', '_') }
                $jwt = (& $b64 '{"alg":"RS256","typ":"JWT"}') + '.' + (& $b64 $claims) + '.c2ln'
                Connect-Kodo -Environment Emulator -AccessToken (ConvertTo-SecureString $jwt -AsPlainText -Force) } }
        @{ Case = 'no emulator for -Environment Emulator'; Id = 'Kodo.EmulatorNotRunning'; Category = 'ResourceUnavailable'; Pattern = 'Start-KodoEmulator'
           Call = { $saved = & $kodo { $script:KodoEmulator }; & $kodo { $script:KodoEmulator = $null }; try { Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientSecretCredential $t.BootstrapCredential } finally { & $kodo { param($e) $script:KodoEmulator = $e } $saved } } }
    ) {
        $err = $null
        try { & $Call } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -Be "$Id,Connect-Kodo"
        [string]$err.CategoryInfo.Category | Should -Be $Category
        $err.Exception.Message | Should -Match $Pattern
        $err.Exception.Message | Should -Not -Match ([regex]::Escape($secretText))
        Get-KodoContext | Should -BeNullOrEmpty -Because 'a failed sign-in leaves no connection'
    }
}

Describe 'Connect-Kodo explains what a tenant policy refused' {
    BeforeAll {
        function Add-Fault([int]$Code) {
            $rule = @{ pathContains = '/oauth2/v2.0/token'; aadsts = $Code; count = 1 } | ConvertTo-Json
            $null = Invoke-RestMethod -Method Post -Uri "$($emu.Url)/_emulator/faults" -Body $rule -ContentType 'application/json' -SkipCertificateCheck
        }
    }
    AfterEach { $null = Invoke-RestMethod -Method Delete -Uri "$($emu.Url)/_emulator/faults" -SkipCertificateCheck }

    It 'AADSTS<Code>: <Case>' -ForEach @(
        @{ Code = 7000222; Case = 'expired secret'; Id = 'Kodo.AuthenticationFailed'; Pattern = 'has expired\. Create a new secret' }
        @{ Code = 65001; Case = 'consent missing'; Id = 'Kodo.PermissionDenied'; Pattern = 'Admin consent is missing' }
        @{ Code = 50076; Case = 'MFA required'; Id = 'Kodo.AuthenticationFailed'; Pattern = 'Multi-factor authentication is required.*-UseDeviceCode' }
        @{ Code = 53003; Case = 'Conditional Access'; Id = 'Kodo.PermissionDenied'; Pattern = 'Conditional Access policy blocked' }
    ) {
        Add-Fault $Code
        $err = $null
        try { Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientSecretCredential $t.BootstrapCredential } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be "$Id,Connect-Kodo"
        $err.Exception.Message | Should -Match $Pattern
        $err.Exception.Message | Should -Match "AADSTS$Code"
    }
}

Describe 'Secrets and tokens never reach an output stream' {
    It 'at any verbosity, for success and failure' {
        $token = Get-EmulatorToken 'https://graph.microsoft.com/.default'
        $secureToken = ConvertTo-SecureString $token -AsPlainText -Force
        $all = @(
            Invoke-Captured { Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientSecretCredential $t.BootstrapCredential -Verbose -Debug; Get-KodoContext | Format-List * | Out-String }
            Invoke-Captured { Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientSecretCredential (New-Object PSCredential $t.BootstrapClientId, (ConvertTo-SecureString ($secretText + 'x') -AsPlainText -Force)) -Verbose }
            Invoke-Captured { Connect-Kodo -Environment Emulator -AccessToken $secureToken -Verbose; Get-KodoContext | ConvertTo-Json }
            Invoke-Captured { Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $t.BootstrapClientId -CertificatePath $t.BootstrapCertificatePath -Verbose }
        ) -join "`n"
        $all | Should -Not -BeNullOrEmpty
        $all | Should -Match $t.TenantId -Because 'the capture must contain real output'
        $all.Contains($secretText) | Should -BeFalse
        $all.Contains(($secretText + 'x')) | Should -BeFalse
        $all.Contains($token) | Should -BeFalse
        $all.Contains($token.Split('.')[2]) | Should -BeFalse
        $pemKey = (Get-Content -Raw $t.BootstrapCertificatePath).Split('-----BEGIN PRIVATE KEY-----')[1].Substring(0, 40)
        $all.Contains($pemKey) | Should -BeFalse
        ($Error | Out-String).Contains($secretText) | Should -BeFalse
        Disconnect-Kodo
    }
}

Describe 'Tokens per resource from one sign-in' {
    BeforeAll {
        function Get-TokenInfo([string]$Resource) { & $kodo { param($r) Invoke-KodoNative -Request @{ kind = 'tokenInfo'; resource = $r } } $Resource }
        function Get-TokenRequestCount { @((Invoke-RestMethod -Uri "$($emu.Url)/_emulator/requests" -SkipCertificateCheck) | ForEach-Object { $_ } | Where-Object { $_.path -like '*/oauth2/v2.0/token' }).Count }
    }
    AfterAll { Disconnect-Kodo }

    It 'gets Graph, SharePoint admin and Exchange tokens, and reuses cached ones' {
        $null = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $t.BootstrapClientId -CertificatePath $t.BootstrapCertificatePath
        $before = Get-TokenRequestCount
        $spo = Get-TokenInfo "https://$($t.SharePointAdminHost)"
        $spo.audience | Should -Be "https://$($t.SharePointAdminHost)"
        $spo.roles | Should -Contain 'Sites.FullControl.All'
        $spo.authMethod | Should -Be '2'
        (Get-TokenInfo 'exchange').audience | Should -Be 'https://outlook.office365.com'
        (Get-TokenInfo 'graph').roles | Should -Contain 'Application.ReadWrite.All'
        $null = Get-TokenInfo "https://$($t.SharePointAdminHost)"
        (Get-TokenRequestCount) - $before | Should -Be 2 -Because 'Graph was cached at sign-in; SharePoint once, Exchange once'
    }

    It 'refuses to use a supplied access token for another resource' {
        $token = Get-EmulatorToken 'https://graph.microsoft.com/.default'
        $null = Connect-Kodo -Environment Emulator -AccessToken (ConvertTo-SecureString $token -AsPlainText -Force)
        { Get-TokenInfo "https://$($t.SharePointAdminHost)" } | Should -Throw -ErrorId 'Kodo.AuthenticationFailed'
    }
}

Describe 'Ctrl+C during a device-code sign-in' {
    It 'cancels promptly and leaves nothing running' {
        $file = Join-Path $TestDrive 'emulator.json'
        @{ url = $emu.Url; caCertificate = $emu.CaCertificate } | ConvertTo-Json | Set-Content -LiteralPath $file
        $env:KODO_EMULATOR = $file
        $before = & $kodo { Invoke-KodoDebugOperation -Kind Stats }
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript("Import-Module '$($script:ManifestPath)'; Connect-Kodo -Environment Emulator -TenantId '$($t.TenantId)' -ClientId '$($t.BootstrapClientId)' -UseDeviceCode")
            $null = $ps.BeginInvoke()
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while ($ps.Streams.Information.Count -lt 1 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            $ps.Streams.Information.Count | Should -BeGreaterOrEqual 1 -Because 'the device-code prompt was shown'
            $watch = [System.Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 3
            $ps.InvocationStateInfo.State | Should -Be 'Stopped'
        } finally {
            $ps.Dispose()
            Remove-Item Env:KODO_EMULATOR
        }
        $after = & $kodo { Invoke-KodoDebugOperation -Kind Stats }
        $after.operationsLive | Should -Be $before.operationsLive
        $after.operationsCancelled | Should -BeGreaterThan $before.operationsCancelled
    }
}

Describe 'An administrator signs in with no app of their own' {
    # The system browser is tools/xdg-open on PATH: it opens the address Kodo gives, answers the
    # emulator's sign-in page and follows the redirect to Kodo's loopback listener.
    BeforeAll {
        $script:savedPath = $env:PATH
        $env:PATH = (Join-Path $PSScriptRoot 'tools') + [IO.Path]::PathSeparator + $env:PATH
        $env:KODO_TEST_BROWSER_CA = $emu.CaCertificate
        $script:browserLog = Join-Path $TestDrive 'browser.log'
        $env:KODO_TEST_BROWSER_LOG = $script:browserLog
        $graphTools = '14d82eec-204b-4c2f-b7e8-296a70dab67e'
        $exchangeShell = 'fb78d390-0c51-40cd-8e17-fdbfab77341b'
        function Get-BrowserVisit {
            @(Get-Content -LiteralPath $script:browserLog -ErrorAction Ignore | ForEach-Object {
                $query = @{}
                foreach ($pair in ([uri]$_).Query.TrimStart('?').Split('&')) {
                    $k, $v = $pair.Split('=', 2)
                    $query[[uri]::UnescapeDataString($k)] = [uri]::UnescapeDataString($v.Replace('+', ' '))
                }
                [pscustomobject]@{ Url = $_; Query = $query }
            })
        }
    }
    BeforeEach {
        Remove-Item -LiteralPath $script:browserLog -ErrorAction Ignore
        $env:KODO_TEST_BROWSER_ACTION = 'accept'
    }
    AfterAll {
        $env:PATH = $script:savedPath
        'KODO_TEST_BROWSER_CA', 'KODO_TEST_BROWSER_LOG', 'KODO_TEST_BROWSER_ACTION' | ForEach-Object { Remove-Item "Env:$_" -ErrorAction Ignore }
    }

    It 'in the browser by default (PKCE, loopback redirect), and the onboarding that follows succeeds' {
        Clear-Log
        $all = Connect-Kodo -Environment Emulator -TenantId $t.TenantId 6>&1
        $c = $all | Where-Object { $_.PSTypeNames -contains 'Kodo.Context' }
        $c.IdentityKind | Should -Be 'Browser'
        $c.ClientId | Should -Be $graphTools -Because 'Microsoft Graph Command Line Tools signs in for Graph'
        $c.Account | Should -Be "admin@$($t.InitialDomain)"
        $c.AppOnly | Should -BeFalse
        $c.Scopes | Should -Contain 'Application.ReadWrite.All'
        $prompt = $all | Where-Object { $_ -is [System.Management.Automation.InformationRecord] -and $_.Tags -contains 'Kodo.Prompt' }
        "$($prompt.MessageData.Message)" | Should -Match 'open this address in a browser'
        $visit = @(Get-BrowserVisit)
        $visit.Count | Should -Be 1
        $visit[0].Url | Should -BeLike "$($emu.Url)/$($t.TenantId)/oauth2/v2.0/authorize?*" -Because 'in emulator mode the browser goes to the emulator, never to login.microsoftonline.com'
        $visit[0].Query['client_id'] | Should -Be $graphTools
        $visit[0].Query['redirect_uri'] | Should -Match '^http://localhost:\d+$'
        $visit[0].Query['code_challenge_method'] | Should -Be 'S256'
        $visit[0].Query['code_challenge'] | Should -Match '^[A-Za-z0-9_-]{43}$'
        $visit[0].Query['prompt'] | Should -Be 'select_account'

        $r = Invoke-KodoOnboarding -DisplayName "KODO browser $(Get-Random)" -Confirm:$false -WarningAction SilentlyContinue 6>$null
        $r.Status | Should -Be 'Succeeded'
        $r.Ews.Status | Should -Be 'Configured'
        # Exchange needed its own client: one more browser visit, for the same account.
        $visit = @(Get-BrowserVisit)
        $visit.Count | Should -Be 2
        $visit[1].Query['client_id'] | Should -Be $exchangeShell
        $visit[1].Query['scope'] | Should -Be 'https://outlook.office365.com/.default offline_access'
        $visit[1].Query['login_hint'] | Should -Be "admin@$($t.InitialDomain)"
        $log = Get-Log
        @($log | Where-Object { $_.path -like '/adminapi/*' } | ForEach-Object clientId | Sort-Object -Unique) | Should -Be @($exchangeShell)
        @($log | Where-Object { $_.path -like '/v1.0/*' } | ForEach-Object clientId | Sort-Object -Unique) | Should -Be @($graphTools)
        @($log | Where-Object { $_.path -like '*/oauth2/v2.0/token' -and $_.status -ne 200 }).Count | Should -Be 0
    }

    It 'with a device code and no client id: each service through its own client' {
        Clear-Log
        $c = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -UseDeviceCode 6>$null
        $c.IdentityKind | Should -Be 'DeviceCode'
        $c.ClientId | Should -Be $graphTools
        $ews = & $kodo { param($Id) Invoke-KodoNative -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'ews.grant'; appId = $Id; approval = @{ dryRun = $true } }) } $t.BootstrapClientId 6>$null
        $ews.status | Should -BeIn 'AlreadyAllowed', 'NotApproved', 'ManualActionRequired'
        @(Get-Log | Where-Object { $_.path -like '/adminapi/*' } | ForEach-Object clientId | Sort-Object -Unique) | Should -Be @($exchangeShell)
        @(Get-BrowserVisit).Count | Should -Be 0 -Because 'a device code opens no browser'
    }

    It 'SharePoint through its own client, whose sign-in is a device code even in a browser session' {
        $null = Connect-Kodo -Environment Emulator -TenantId $t.TenantId 6>$null
        function Get-Token {
            # An advanced function, so that the library's warnings reach its own streams.
            [CmdletBinding()] param([string]$Resource)
            & $kodo { param($Cmdlet, $r) Invoke-KodoNative -Cmdlet $Cmdlet -Request @{ kind = 'tokenInfo'; resource = $r } } $PSCmdlet $Resource
        }
        $spo = Get-Token "https://$($t.SharePointAdminHost)" -WarningVariable warned -WarningAction SilentlyContinue 6>$null
        $spo.clientId | Should -Be '9bc3ab49-b65d-410a-85ad-de819febfddc' -Because 'SharePoint Online Management Shell signs in for SharePoint'
        $spo.audience | Should -Be "https://$($t.SharePointAdminHost)"
        $spo.appOnly | Should -BeFalse
        "$warned" | Should -Match 'cannot send a browser sign-in back to this computer, so this one sign-in uses a device code'
        @(Get-BrowserVisit).Count | Should -Be 1 -Because 'only the Graph sign-in went through the browser'
    }

    It 'through a public client of the admin''s own, for every service' {
        Clear-Log
        $c = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $t.BootstrapClientId 6>$null
        $c.IdentityKind | Should -Be 'Browser'
        $c.ClientId | Should -Be $t.BootstrapClientId
        $null = & $kodo { param($Id) Invoke-KodoNative -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'ews.grant'; appId = $Id; approval = @{ dryRun = $true } }) } $t.BootstrapClientId 6>$null
        @(Get-BrowserVisit | ForEach-Object { $_.Query['client_id'] } | Sort-Object -Unique) | Should -Be @($t.BootstrapClientId)
        @(Get-Log | Where-Object { $_.path -like '/adminapi/*' } | ForEach-Object clientId | Sort-Object -Unique) | Should -Be @($t.BootstrapClientId)
    }

    It 'a client Microsoft did not pre-authorize for a service fails as Entra fails it (AADSTS65002)' {
        # Azure CLI may not ask Graph for Kodo's scopes.
        { Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId '04b07795-8ddb-461a-bbee-02f9e1bf7b46' 6>$null } |
            Should -Throw -ErrorId 'Kodo.PermissionDenied,Connect-Kodo' -ExpectedMessage "*AADSTS65002: Consent between first party application '04b07795-8ddb-461a-bbee-02f9e1bf7b46' and first party resource '00000003-0000-0000-c000-000000000000'*"
        # One client for every service is the wrong choice: Graph Command Line Tools signs in
        # for Graph, and Exchange refuses it.
        $c = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $graphTools 6>$null
        $c.ClientId | Should -Be $graphTools
        $failure = $null
        try {
            $null = & $kodo { param($Id) Invoke-KodoNative -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'ews.grant'; appId = $Id; approval = @{ dryRun = $true } }) } $t.BootstrapClientId 6>$null
        } catch { $failure = $_ }
        "$failure" | Should -Match "AADSTS65002: Consent between first party application '$graphTools' and first party resource '00000002-0000-0ff1-ce00-000000000000'"
    }

    It 'says so when the admin cancels in the browser (AADSTS65004), and stays signed out' {
        $null = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientSecretCredential $t.BootstrapCredential
        $env:KODO_TEST_BROWSER_ACTION = 'cancel'
        { Connect-Kodo -Environment Emulator -TenantId $t.TenantId 6>$null } |
            Should -Throw -ErrorId 'Kodo.AuthenticationFailed,Connect-Kodo' -ExpectedMessage '*cancelled in the browser*AADSTS65004*The previous connection (tenant*) was closed*'
        # Not the previous connection either: a script's next command would run against the
        # tenant the admin meant to leave (Input.Tests.ps1, wrong tenant ids).
        Get-KodoContext | Should -BeNullOrEmpty -Because 'a failed sign-in leaves no connection'
    }

    It 'refuses in an Azure Automation job, where no one can sign in in a browser' {
        $env:AUTOMATION_ASSET_ACCOUNTID = [guid]::NewGuid().ToString()
        try {
            { Connect-Kodo -Environment Emulator -TenantId $t.TenantId } | Should -Throw -ErrorId 'Kodo.InteractiveSignInUnavailable,Connect-Kodo' -ExpectedMessage '*-Identity*'
        } finally { Remove-Item Env:AUTOMATION_ASSET_ACCOUNTID }
        @(Get-BrowserVisit).Count | Should -Be 0
    }
}

Describe 'Emulator mode sends nothing off this machine' {
    BeforeAll {
        # A listener on a second address, this machine's own non-loopback one when it has one
        # (else loopback), that must receive nothing. Never accepted: any connection would
        # wait in its backlog, and Pending() would say so.
        $address = [System.Net.NetworkInformation.NetworkInterface]::GetAllNetworkInterfaces() |
            Where-Object { $_.OperationalStatus -eq 'Up' } | ForEach-Object { $_.GetIPProperties().UnicastAddresses } |
            ForEach-Object { $_.Address } | Where-Object { $_.AddressFamily -eq 'InterNetwork' -and -not [System.Net.IPAddress]::IsLoopback($_) } |
            Select-Object -First 1
        $script:offMachine = $null -ne $address
        if (-not $address) { $address = [System.Net.IPAddress]::Loopback }
        $script:trapListener = New-Object System.Net.Sockets.TcpListener -ArgumentList $address, 0
        $script:trapListener.Start()
        $script:trap = '{0}:{1}' -f $address, $script:trapListener.LocalEndpoint.Port
        $endpointFile = Join-Path $TestDrive 'emulator.json'
        Set-Content -LiteralPath $endpointFile -Value (@{ url = $emu.Url; caCertificate = $emu.CaCertificate; identityEndpoint = $emu.IdentityEndpoint } | ConvertTo-Json)
        $modulePath = (Split-Path $script:ModuleDir) + [System.IO.Path]::PathSeparator + $env:PSModulePath
    }
    AfterAll { $script:trapListener.Stop() }

    It 'a whole onboarding, with every proxy variable and the instance metadata address pointing at the second listener' {
        # A fresh process, so that the native library sees these variables from its start.
        $c = $t.BootstrapCredential
        $script = @"
`$ErrorActionPreference = 'Stop'
Import-Module Kodo
`$cred = New-Object System.Management.Automation.PSCredential -ArgumentList @('$($c.UserName)', (ConvertTo-SecureString '$($c.GetNetworkCredential().Password)' -AsPlainText -Force))
`$null = Connect-Kodo -Environment Emulator -TenantId '$($t.TenantId)' -ClientSecretCredential `$cred
`$r = Invoke-KodoOnboarding -Environment Emulator -Confirm:`$false
"status=`$(`$r.Status) audit=`$(`$r.AuditPassed)"
try { Connect-Kodo -Environment Emulator -Identity } catch { "identity=`$(`$_.FullyQualifiedErrorId) `$(`$_.Exception.Message)" }
"@
        $proxy = "http://$script:trap"
        # Both spellings of each proxy variable (environment names are case-sensitive here).
        $environment = New-Object System.Collections.Hashtable -ArgumentList ([StringComparer]::Ordinal)
        foreach ($name in 'HTTPS_PROXY', 'HTTP_PROXY', 'ALL_PROXY') { $environment[$name] = $proxy; $environment[$name.ToLowerInvariant()] = $proxy }
        foreach ($name in 'NO_PROXY', 'no_proxy', 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER') { $environment[$name] = $null }
        $environment['KODO_EMULATOR'] = $endpointFile
        $environment['PSModulePath'] = $modulePath
        $environment['KODO_IMDS_ENDPOINT'] = "http://$script:trap/metadata/identity/oauth2/token"
        $r = Invoke-FreshPwsh -Script $script -Environment $environment
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.StdOut | Should -Match 'status=Succeeded audit=True'
        if ($script:offMachine) {
            # The instance metadata endpoint at this machine's own non-loopback address: refused, named.
            $r.StdOut | Should -Match ('identity=Kodo\.InvalidArgument,Connect-Kodo .*sends nothing off this machine.*' + [regex]::Escape(($script:trap -split ':')[0]))
        }
        $script:trapListener.Pending() | Should -BeFalse -Because 'nothing may reach the second address'
    }
}
