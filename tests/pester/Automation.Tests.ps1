# Azure Automation and MSP runs against the tenant emulator: many tenants in one run (a failing
# tenant does not stop the others), audit-only runs that write nothing, the example runbooks in a
# fresh pwsh with Automation's asset cmdlets stood in for, and the module package Automation
# imports (its layout checked, then imported from the unpacked zip).

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $script:ManifestPath -Force
    # Throttling on: a bulk run must ride out 429s in every tenant.
    $emu = Start-KodoEmulator -Tenants 6 -ThrottleRate 0.1
    # Graph writes (Exchange's admin API takes Get-* cmdlets as POSTs to InvokeCommand too).
    function Get-Writes {
        @(Get-Log | Where-Object { $_.method -in 'POST', 'PATCH', 'DELETE' -and $_.path -notlike '*/oauth2/v2.0/token' -and $_.path -ne '/v1.0/$batch' -and $_.path -notlike '*/InvokeCommand' -and $_.status -lt 400 })
    }
    # Plain Graph, outside Kodo: the app tagged KodoManaged in a tenant, if any.
    function Get-PlainKodoApps($Tenant) {
        $c = $Tenant.BootstrapCredential
        $body = @{ grant_type = 'client_credentials'; client_id = $c.UserName; client_secret = $c.GetNetworkCredential().Password; scope = 'https://graph.microsoft.com/.default' }
        $token = (Invoke-RestMethod -Method Post -Uri "$($emu.Url)/$($Tenant.TenantId)/oauth2/v2.0/token" -Body $body -SkipCertificateCheck).access_token
        @((Invoke-RestMethod -Uri "$($emu.Url)/v1.0/applications?`$filter=tags/any(t:t eq 'KodoManaged')" -Headers @{ Authorization = "Bearer $token" } -SkipCertificateCheck -MaximumRetryCount 5 -RetryIntervalSec 1).value)
    }
    # One row per tenant, as an MSP's CSV or secret store would give them.
    $rows = @($emu.Tenants[0..3] | ForEach-Object { [pscustomobject]@{ TenantId = $_.TenantId; ClientSecretCredential = $_.BootstrapCredential } })
    $wrong = New-Object System.Management.Automation.PSCredential -ArgumentList @($emu.Tenants[4].BootstrapClientId, (ConvertTo-SecureString 'not-the-secret' -AsPlainText -Force))
    $broken = [pscustomobject]@{ TenantId = $emu.Tenants[4].TenantId; ClientSecretCredential = $wrong }
}

AfterAll {
    Stop-KodoEmulator
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'Many tenants in one run' {
    It 'onboards every tenant, reports the one that fails and goes on with the rest' {
        $tenantRows = @($rows[0], $rows[1], $broken, $rows[2], $rows[3])
        $results = @($tenantRows | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failures)
        $results.Count | Should -Be 5
        ($results | ForEach-Object TenantId) | Should -Be ($tenantRows | ForEach-Object TenantId)
        $bad = $results[2]
        $bad.Status | Should -Be 'Failed'
        $bad.Error | Should -Match 'AADSTS7000215'
        $bad.AuditPassed | Should -BeFalse
        # -ErrorVariable also collects the inner commands' caught errors (PowerShell does that);
        # the run's own error per failed tenant is Kodo.TenantFailed.
        $failures = @($failures | Where-Object { $_.FullyQualifiedErrorId -like 'Kodo.TenantFailed*' })
        $failures.Count | Should -Be 1
        $failures[0].TargetObject | Should -Be $broken.TenantId
        $failures[0].CategoryInfo.Category | Should -Be 'AuthenticationError'
        foreach ($i in 0, 1, 3, 4) {
            $r = $results[$i]
            $r.Status | Should -Be 'Succeeded'
            $r.AuditPassed | Should -BeTrue -Because (($r.Audit | Where-Object Status -eq 'Fail' | ForEach-Object { "$($_.Check): $($_.Detail)" }) -join '; ')
            $r.ClientSecret | Should -BeOfType [securestring]
            @($r.Changes).Count | Should -BeGreaterThan 30
            # Really there, seen through plain Graph.
            $tenant = $emu.Tenants | Where-Object TenantId -eq $r.TenantId
            (Get-PlainKodoApps $tenant).appId | Should -Be $r.ClientId
        }
        # Nothing was written in the tenant whose sign-in failed.
        @(Get-PlainKodoApps $emu.Tenants[4]).Count | Should -Be 0
        # No connection is left behind to the last tenant.
        Get-KodoContext | Should -BeNullOrEmpty
    }
    It 'audits many tenants without writing anything, and names the tenant that is not onboarded' {
        Clear-Log
        $exchangeBefore = @($emu.Tenants | ForEach-Object { (Invoke-RestMethod -Uri "$($emu.Url)/_emulator/tenants/$($_.TenantId)/exchange" -SkipCertificateCheck) | ConvertTo-Json -Depth 6 -Compress })
        $all = @($rows + [pscustomobject]@{ TenantId = $emu.Tenants[5].TenantId; ClientSecretCredential = $emu.Tenants[5].BootstrapCredential })
        $results = @($all | Invoke-KodoOnboarding -AuditOnly -Environment Emulator -ErrorAction SilentlyContinue -ErrorVariable failures)
        Get-Writes | Should -BeNullOrEmpty
        $exchangeAfter = @($emu.Tenants | ForEach-Object { (Invoke-RestMethod -Uri "$($emu.Url)/_emulator/tenants/$($_.TenantId)/exchange" -SkipCertificateCheck) | ConvertTo-Json -Depth 6 -Compress })
        $exchangeAfter | Should -Be $exchangeBefore -Because 'an audit changes no Exchange setting either'
        @($results | Where-Object { $_.Status -eq 'Succeeded' -and $_.AuditPassed }).Count | Should -Be 4
        $last = $results[4]
        $last.Status | Should -Be 'Failed'
        $last.Error | Should -Match 'not onboarded'
        @($failures | Where-Object { $_.FullyQualifiedErrorId -like 'Kodo.TenantFailed*' }).Count | Should -Be 1
    }
    It 'an audit finds drift in one tenant and still passes the others' {
        # Drift: one of tenant 1's app role assignments is removed behind Kodo's back.
        $null = Connect-Kodo -Environment Emulator -TenantId $emu.Tenants[1].TenantId -ClientSecretCredential $emu.Tenants[1].BootstrapCredential
        $appId = (Get-PlainKodoApps $emu.Tenants[1])[0].appId
        $c = $emu.Tenants[1].BootstrapCredential
        $body = @{ grant_type = 'client_credentials'; client_id = $c.UserName; client_secret = $c.GetNetworkCredential().Password; scope = 'https://graph.microsoft.com/.default' }
        $token = (Invoke-RestMethod -Method Post -Uri "$($emu.Url)/$($emu.Tenants[1].TenantId)/oauth2/v2.0/token" -Body $body -SkipCertificateCheck).access_token
        $plain = @{ Headers = @{ Authorization = "Bearer $token" }; SkipCertificateCheck = $true; MaximumRetryCount = 5; RetryIntervalSec = 1 }
        $sp = Invoke-RestMethod -Uri "$($emu.Url)/v1.0/servicePrincipals(appId='$appId')" @plain
        $removed = @((Invoke-RestMethod -Uri "$($emu.Url)/v1.0/servicePrincipals/$($sp.id)/appRoleAssignments" @plain).value)[0]
        $null = Invoke-RestMethod -Method Delete -Uri "$($emu.Url)/v1.0/servicePrincipals/$($removed.resourceId)/appRoleAssignedTo/$($removed.id)" @plain
        # Step 17 is retired: a tenant that turned LegacyAuthProtocolsEnabled off stays off.
        $null = Set-KodoSharePointTenant -LegacyAuthProtocolsEnabled $false
        Disconnect-Kodo | Out-Null
        $results = @($rows | Invoke-KodoOnboarding -AuditOnly -Environment Emulator)
        ($results | Where-Object { -not $_.AuditPassed }).TenantId | Should -Be $emu.Tenants[1].TenantId
        ($results[1].Audit | Where-Object Status -eq 'Fail').Detail | Should -Match 'consent is missing'
        # Onboarding again mends it, changes nothing in the others, and leaves step 17 alone.
        $again = @($rows | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false)
        ($again | ForEach-Object { @($_.Changes).Count }) | Should -Be @(0, 1, 0, 0)
        $again[1].Changes | Should -BeLike 'Granted *'
        @($again | Where-Object AuditPassed).Count | Should -Be 4
        $null = Connect-Kodo -Environment Emulator -TenantId $emu.Tenants[1].TenantId -ClientSecretCredential $emu.Tenants[1].BootstrapCredential
        (Get-KodoSharePointTenant).LegacyAuthProtocolsEnabled | Should -BeFalse
        Disconnect-Kodo | Out-Null
    }
    It 'refuses a tenant list without a credential, before signing in anywhere' {
        Clear-Log
        { Invoke-KodoOnboarding -TenantId $emu.Tenants[0].TenantId -Environment Emulator } | Should -Throw -ErrorId 'Kodo.NoSignInCredential,Invoke-KodoOnboarding'
        @(Get-Log).Count | Should -Be 0
    }
}

Describe 'The example runbooks' {
    It 'Audit-KodoTenants.ps1 -Mode Onboard works through a tenant list from a credential asset and fails the job naming the failed tenant' {
        $runbook = Join-Path $script:RepoRoot 'examples/runbooks/Audit-KodoTenants.ps1'
        $c = $emu.Tenants[0].BootstrapCredential
        # Azure Automation's Get-AutomationPSCredential, stood in for by a function returning the
        # asset; the emulator stands in for the tenants.
        $script = @"
function Get-AutomationPSCredential([string]`$Name) {
    if (`$Name -ne 'KodoMspApp') { throw "no credential asset `$Name" }
    New-Object System.Management.Automation.PSCredential -ArgumentList @('$($c.UserName)', (ConvertTo-SecureString '$($c.GetNetworkCredential().Password)' -AsPlainText -Force))
}
# As a job's output stream: each object as it comes, then the job's end.
`$output = New-Object System.Collections.ArrayList
try {
    & '$runbook' -TenantIds '$($emu.Tenants[0].TenantId), 00000000-0000-0000-0000-00000000dead' -CredentialName KodoMspApp -Mode Onboard -Environment Emulator | ForEach-Object { `$null = `$output.Add(`$_) }
    `$ending = 'JOB COMPLETED'
} catch { `$ending = "JOB FAILED: `$(`$_.Exception.Message)" }
`$output | Where-Object { `$_ -isnot [string] } | Format-Table -AutoSize | Out-String -Width 300
`$output | Where-Object { `$_ -is [string] }
`$ending
"@
        $endpointFile = Join-Path $TestDrive 'emulator.json'
        Set-Content -LiteralPath $endpointFile -Value (@{ url = $emu.Url; caCertificate = $emu.CaCertificate } | ConvertTo-Json)
        # Kodo installed where Automation puts imported modules: on PSModulePath.
        $modulePath = (Split-Path $script:ModuleDir) + [System.IO.Path]::PathSeparator + $env:PSModulePath
        $r = Invoke-FreshPwsh -Script $script -Environment @{ KODO_EMULATOR = $endpointFile; PSModulePath = $modulePath }
        $r.StdOut | Should -Match '2 tenants: 1 passed, 1 need attention'
        $r.StdOut | Should -Match 'JOB FAILED: .*00000000-0000-0000-0000-00000000dead'
        $r.StdOut | Should -Match "$($emu.Tenants[0].TenantId)\s+Succeeded"
        $r.StdOut | Should -Not -Match ([regex]::Escape($c.GetNetworkCredential().Password))
    }
}

Describe 'The single-tenant runbook' {
    It 'Onboard-KodoTenant.ps1 onboards with only the managed-identity variables, stores the new secret in an Automation variable, and a re-run changes nothing' {
        $runbook = Join-Path $script:RepoRoot 'examples/runbooks/Onboard-KodoTenant.ps1'
        $script = @"
`$ErrorActionPreference = 'Stop'
Import-Module Kodo
`$emu = Start-KodoEmulator
`$env:IDENTITY_ENDPOINT = `$emu.IdentityEndpoint
`$env:IDENTITY_HEADER = `$emu.IdentityHeader
# Azure Automation's Set-AutomationVariable, stood in for.
`$global:stored = @{}
function Set-AutomationVariable([string]`$Name, `$Value) { `$global:stored[`$Name] = `$Value }
try {
    `$first = @(& '$runbook' -SecretVariableName KodoSecret -Environment Emulator)
    `$second = @(& '$runbook' -SecretVariableName KodoSecret -Environment Emulator)
    `$r1 = `$first | Where-Object { `$_ -isnot [string] }
    `$r2 = `$second | Where-Object { `$_ -isnot [string] }
    "first: changes=`$(`$r1.ChangeCount) audit=`$(`$r1.AuditPassed) stored=`$(`$global:stored['KodoSecret'].Length -gt 20)"
    "second: changes=`$(`$r2.ChangeCount) audit=`$(`$r2.AuditPassed) same=`$(`$r1.ClientId -eq `$r2.ClientId) messages=`$(@(`$second | Where-Object { `$_ -is [string] }).Count)"
    `$first + `$second | Format-List | Out-String -Width 300
    "SECRET=`$(`$global:stored['KodoSecret'])"
} finally { Stop-KodoEmulator }
"@
        $modulePath = (Split-Path $script:ModuleDir) + [System.IO.Path]::PathSeparator + $env:PSModulePath
        $r = Invoke-FreshPwsh -Script $script -Environment @{ KODO_EMULATOR = $null; IDENTITY_ENDPOINT = $null; IDENTITY_HEADER = $null; PSModulePath = $modulePath }
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.StdOut | Should -Match 'first: changes=3\d audit=True stored=True'
        $r.StdOut | Should -Match 'second: changes=0 audit=True same=True messages=0'
        # The secret went to the variable and nowhere else in the job's output.
        $secret = [regex]::Match($r.StdOut, 'SECRET=(\S+)').Groups[1].Value
        $secret.Length | Should -BeGreaterThan 20
        ($r.StdOut.Replace("SECRET=$secret", '') + $r.StdErr) | Should -Not -Match ([regex]::Escape($secret))
    }
}

Describe 'New-KodoAutomationPackage' {
    BeforeAll {
        $out = Join-Path $TestDrive 'out'
        $null = New-Item -ItemType Directory -Path $out
        $rid = if ($IsWindows) { 'win-x64' } elseif ($IsMacOS) { 'osx-x64' } else { 'linux-x64' }
    }
    It 'writes Kodo.zip: the module folder at the root, only the asked-for runtime, every path under 140 characters' {
        $p = New-KodoAutomationPackage -Path $out -Runtime $rid -WarningAction SilentlyContinue
        $p.Path | Should -Be (Join-Path $out 'Kodo.zip')
        $p.Changed | Should -BeTrue
        $p.SizeBytes | Should -BeLessThan 100MB
        $zip = [System.IO.Compression.ZipFile]::OpenRead($p.Path)
        try { $names = @($zip.Entries | ForEach-Object FullName) } finally { $zip.Dispose() }
        $names.Count | Should -Be $p.Files
        ($names | ForEach-Object { ($_ -split '/')[0] } | Sort-Object -Unique) | Should -Be 'Kodo'
        $names | Should -Contain 'Kodo/Kodo.psd1'
        $names | Should -Contain 'Kodo/Kodo.psm1'
        $names | Should -Contain 'Kodo/bin/Kodo.Interop.dll'
        $names | Should -Contain 'Kodo/Data/seed.json'
        $lib = if ($rid -like 'win-*') { 'kodo.dll' } else { 'libkodo.so' }
        $names | Should -Contain "Kodo/runtimes/$rid/native/$lib"
        @($names | Where-Object { $_ -like 'Kodo/runtimes/*' }).Count | Should -Be 1
        $names | Where-Object { $_ -like '*kodo-emulator*' } | Should -BeNullOrEmpty
        # The functions are inside Kodo.psm1, not in files of their own.
        $names | Where-Object { $_ -like 'Kodo/Public/*' -or $_ -like 'Kodo/Private/*' } | Should -BeNullOrEmpty
        ($names | Measure-Object -Property Length -Maximum).Maximum | Should -BeLessThan 140
    }
    It 'imports from the unpacked zip in a fresh pwsh and loads the native library from runtimes/<rid>/native' {
        $unpacked = Join-Path $TestDrive 'unpacked'
        Expand-Archive -Path (Join-Path $out 'Kodo.zip') -DestinationPath $unpacked
        $script = @"
`$ErrorActionPreference = 'Stop'
Import-Module '$unpacked/Kodo'
`$v = Get-KodoVersion
"commands=`$((Get-Command -Module Kodo).Count) native=`$(`$v.NativeLibraryPath)"
"help=`$(@(Get-Command -Module Kodo -CommandType Function | Where-Object { -not (Get-Help `$_.Name).Synopsis -or (Get-Help `$_.Name).Synopsis -like '*[[]*' }).Count -eq 0)"
"@
        $r = Invoke-FreshPwsh -Script $script -Environment @{ KODO_NATIVE_LIBRARY = $null }
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.StdOut | Should -Match ("native=" + [regex]::Escape([System.IO.Path]::Combine($unpacked, 'Kodo', 'runtimes', $rid, 'native')))
        $r.StdOut | Should -Match "commands=$((Get-Command -Module Kodo).Count)"
        # Every public command, with its help, came from the merged Kodo.psm1.
        $r.StdOut | Should -Match 'help=True'
    }
    It 'is deterministic: a re-run leaves the zip as it is and says so; -WhatIf writes nothing' {
        $zipPath = Join-Path $out 'Kodo.zip'
        $before = (Get-FileHash $zipPath).Hash
        $stamp = (Get-Item $zipPath).LastWriteTimeUtc
        $again = New-KodoAutomationPackage -Path $zipPath -Runtime $rid -WarningAction SilentlyContinue
        $again.Changed | Should -BeFalse
        $again.Sha256 | Should -Be $before
        (Get-Item $zipPath).LastWriteTimeUtc | Should -Be $stamp
        $other = Join-Path $TestDrive 'whatif'
        $null = New-Item -ItemType Directory -Path $other
        New-KodoAutomationPackage -Path $other -Runtime $rid -WhatIf -WarningAction SilentlyContinue | Should -BeNullOrEmpty
        Get-ChildItem $other | Should -BeNullOrEmpty
    }
    It 'refuses, writing nothing: a runtime that is not built, a zip not named Kodo.zip, a zip over the size limit' {
        $empty = Join-Path $TestDrive 'refused'
        $null = New-Item -ItemType Directory -Path $empty
        $missing = if ($rid -eq 'win-arm64') { 'linux-arm64' } else { 'win-arm64' }
        { New-KodoAutomationPackage -Path $empty -Runtime $missing } | Should -Throw -ErrorId 'Kodo.RuntimeNotBuilt,New-KodoAutomationPackage'
        { New-KodoAutomationPackage -Path (Join-Path $empty 'KodoModule.zip') -Runtime $rid } | Should -Throw -ErrorId 'Kodo.InvalidPackageName,New-KodoAutomationPackage'
        { New-KodoAutomationPackage -Path $empty -Runtime $rid -MaxSizeMB 1 -WarningAction SilentlyContinue } | Should -Throw -ErrorId 'Kodo.PackageTooLarge,New-KodoAutomationPackage'
        Get-ChildItem $empty | Should -BeNullOrEmpty
    }
}
