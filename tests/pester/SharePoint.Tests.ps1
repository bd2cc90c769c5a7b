# The SharePoint steps (15-17) against the tenant emulator: the setting through Graph and CSOM,
# SharePoint's certificate rule for app-only tokens, and the retired appinv.aspx step.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $script:ManifestPath -Force
    $emu = Start-KodoEmulator
    $t = $emu.Tenants[0]
    function Connect-Secret { $null = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientSecretCredential $t.BootstrapCredential }
    function Connect-Cert { $null = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $t.BootstrapClientId -CertificatePath $t.BootstrapCertificatePath }
    function Clear-Log { $null = Invoke-RestMethod -Method Delete -Uri "$($emu.Url)/_emulator/requests" -SkipCertificateCheck }
    function Get-Writes {
        @((Invoke-RestMethod -Uri "$($emu.Url)/_emulator/requests" -SkipCertificateCheck) | ForEach-Object { $_ } |
            Where-Object { ($_.method -in 'PATCH', 'DELETE') -or ($_.method -eq 'POST' -and $_.path -like '*ProcessQuery' -and $_.status -eq 200 -and $false) })
    }
    function Get-CsomPosts { @((Invoke-RestMethod -Uri "$($emu.Url)/_emulator/requests" -SkipCertificateCheck) | ForEach-Object { $_ } | Where-Object { $_.path -like '*ProcessQuery' }) }
}

AfterAll {
    Stop-KodoEmulator
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'LegacyAuthProtocolsEnabled through Microsoft Graph' {
    BeforeAll { Connect-Secret }
    It 'reads, sets, reads back, and a re-run writes nothing' {
        $before = Get-KodoSharePointTenant
        $before.Route | Should -Be 'Graph'
        $before.SharePointHost | Should -Be $t.SharePointHost
        $before.AdminHost | Should -Be $t.SharePointAdminHost
        $set = Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled (-not $before.LegacyAuthProtocolsEnabled)
        $set.Changed | Should -BeTrue
        (Get-KodoSharePointTenant).LegacyAuthProtocolsEnabled | Should -Be (-not $before.LegacyAuthProtocolsEnabled)
        $final = Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $true
        Clear-Log
        $again = Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $true -Verbose 4>&1
        ($again | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message | Should -Match 'already True.*nothing to change'
        @(Get-Writes).Count | Should -Be 0
        ($again | Where-Object { $_.PSTypeNames -contains 'Kodo.SharePointTenant' }).Changed | Should -BeFalse
    }
    It '-WhatIf writes nothing' {
        Clear-Log
        Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $false -WhatIf
        @(Get-Writes).Count | Should -Be 0
        (Get-KodoSharePointTenant).LegacyAuthProtocolsEnabled | Should -BeTrue
    }
}

Describe 'LegacyAuthProtocolsEnabled through CSOM' {
    It 'with a certificate: reads, sets and reads back, and Graph agrees' {
        Connect-Cert
        (Get-KodoSharePointTenant -Route Csom).LegacyAuthProtocolsEnabled | Should -BeTrue
        (Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $false -Route Csom).Changed | Should -BeTrue
        (Get-KodoSharePointTenant -Route Csom).LegacyAuthProtocolsEnabled | Should -BeFalse
        (Get-KodoSharePointTenant -Route Graph).LegacyAuthProtocolsEnabled | Should -BeFalse
        (Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $true -Route Csom).LegacyAuthProtocolsEnabled | Should -BeTrue
        @(Get-CsomPosts).Count | Should -BeGreaterThan 0
    }
    It 'with a client secret: refused as SharePoint refuses it, and Kodo explains the certificate rule' {
        Connect-Secret
        $err = $null
        try { Get-KodoSharePointTenant -Route Csom } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'Kodo.AuthenticationFailed,Get-KodoSharePointTenant'
        $err.Exception.Message | Should -Match 'Unsupported app only token'
        $err.Exception.Message | Should -Match 'only from a certificate'
    }
}

Describe 'SharePoint app-only access, the modern replacement of appinv.aspx' {
    It 'a secret-based app-only call is refused, with the reason' {
        Connect-Secret
        { Test-KodoSharePointAccess } | Should -Throw -ErrorId 'Kodo.AuthenticationFailed,Test-KodoSharePointAccess' -ExpectedMessage '*certificate*'
    }
    It 'the Kodo app with its certificate reads the root web' {
        Connect-Secret
        $password = ConvertTo-SecureString 'Pfx-Passw0rd!' -AsPlainText -Force
        $pfx = Join-Path $TestDrive 'kodo.pfx'
        $app = New-KodoApp -DisplayName 'KODO SharePoint proof' -NewCertificate -CertificatePassword $password -CertificatePath $pfx
        $rows = $app | Grant-KodoPermissions
        $acs = $rows | Where-Object Type -eq 'ACS'
        $acs.Status | Should -Be 'Retired'
        $acs.Note | Should -Match 'Replacement in place'
        $null = Connect-Kodo -Environment Emulator -TenantId $t.TenantId -ClientId $app.ClientId -CertificatePath $pfx -CertificatePassword $password
        $proof = Test-KodoSharePointAccess
        $proof.WebUrl | Should -Be "https://$($t.SharePointHost)"
        $proof.AuthMethod | Should -Be 'Certificate'
        $proof.AppOnly | Should -BeTrue
        $proof.Roles | Should -Contain 'Sites.FullControl.All'
    }
    It 'asking for the ACS grant explains the retirement' {
        $err = $null
        try { Grant-KodoPermissions -AppId ([guid]::NewGuid()) -AcsAppOnlyGrant } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'Kodo.Retired,Grant-KodoPermissions'
        [string]$err.CategoryInfo.Category | Should -Be 'NotEnabled'
        $err.Exception.Message | Should -Match '2026-04-02'
        $err.Exception.Message | Should -Match 'Sites\.FullControl\.All'
    }
}

Describe 'Request ids for Microsoft support' {
    BeforeAll { Connect-Secret }
    It 'every Graph request sends a fresh client-request-id, and -Debug shows it with the service''s request-id' {
        $out = Get-KodoSharePointTenant -Debug 5>&1 4>&1
        $lines = @($out | Where-Object { $_ -is [System.Management.Automation.DebugRecord] } | ForEach-Object Message | Where-Object { $_ -like 'Graph *' })
        $lines.Count | Should -BeGreaterThan 1
        $guid = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
        foreach ($line in $lines) { $line | Should -Match "^Graph GET \S+ -> 200 in \d+ ms \(request-id $guid, client-request-id $guid\)$" }
        $sent = @($lines | ForEach-Object { ([regex]::Match($_, "client-request-id ($guid)")).Groups[1].Value })
        @($sent | Select-Object -Unique).Count | Should -Be $sent.Count -Because 'each request has its own id'
    }
    It 'a Graph error names the request: request-id and client-request-id in the message and the exception' {
        $null = Invoke-RestMethod -Method Post -Uri "$($emu.Url)/_emulator/faults" -Body (@{ method = 'GET'; pathContains = '/v1.0/sites/root'; status = 501; count = 1 } | ConvertTo-Json) -ContentType 'application/json' -SkipCertificateCheck
        $record = $null
        try { Get-KodoSharePointTenant -ErrorAction Stop } catch { $record = $_ }
        $record | Should -Not -BeNullOrEmpty
        $record.FullyQualifiedErrorId | Should -BeLike 'Kodo.ServiceError*'
        $guid = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
        $record.Exception.Data['RequestId'] | Should -Match "^$guid$"
        $record.Exception.Data['ClientRequestId'] | Should -Match "^$guid$"
        $record.Exception.Message | Should -Match "\[request-id: $guid, client-request-id: $guid\]"
        $record.Exception.Message | Should -BeLike "*$($record.Exception.Data['ClientRequestId'])*"
    }
}
