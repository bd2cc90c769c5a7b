# Hostile cmdlet input (issue 17, "Cmdlet input"): malformed and oversized permission manifests,
# unknown permission names, display names with OData-injection characters, malformed and wrong
# tenant ids, a 5 000-row tenant list, wrong and expired secrets, and a caller without the needed
# role. Every refused case is checked four ways: (a) the exact ErrorId and category, (b) a
# message that names the bad input, (c) no write reached the emulator (request log) and the
# emulator's whole state is byte-for-byte what it was, (d) no secret, token or key in any text
# of the error. Legal hostile display names must onboard as given and be escaped in every
# $filter Kodo sends (the request log's query strings).

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $script:ManifestPath -Force
    $emu = Start-KodoEmulator -Tenants 5
    $script:figures = [ordered]@{}

    function Get-StateText { (Invoke-WebRequest -Uri "$($emu.Url)/_emulator/state" -SkipCertificateCheck).Content }
    function Get-PlainToken($Tenant) {
        $body = @{ grant_type = 'client_credentials'; client_id = $Tenant.BootstrapClientId; client_secret = $Tenant.BootstrapCredential.GetNetworkCredential().Password; scope = 'https://graph.microsoft.com/.default' }
        (Invoke-RestMethod -Method Post -Uri "$($emu.Url)/$($Tenant.TenantId)/oauth2/v2.0/token" -Body $body -SkipCertificateCheck).access_token
    }
    function Invoke-PlainGraph($Tenant, [string]$Method, [string]$Path, $Body) {
        $p = @{ Method = $Method; Uri = "$($emu.Url)/v1.0/$Path"; Headers = @{ Authorization = "Bearer $(Get-PlainToken $Tenant)" }; SkipCertificateCheck = $true }
        if ($null -ne $Body) { $p['Body'] = ($Body | ConvertTo-Json -Depth 6); $p['ContentType'] = 'application/json' }
        Invoke-RestMethod @p
    }
    # Every write that reached the emulator: Graph (a $batch's items are logged one by one),
    # SharePoint and Exchange. Token requests are sign-ins, not writes; Exchange's admin API takes
    # its Get-* cmdlets as POSTs too, so Exchange is checked through the state.
    function Get-AnyWrites {
        @(Get-Log | Where-Object {
                $_.method -in 'POST', 'PATCH', 'DELETE', 'PUT' -and $_.path -notlike '*/oauth2/v2.0/token' -and
                $_.path -ne '/v1.0/$batch' -and $_.path -notlike '*/InvokeCommand'
            })
    }
    # Every secret the emulator handed out (bootstrap and addPassword) and the ones the tests made up.
    $script:madeUp = New-Object System.Collections.Generic.List[string]
    function Get-KnownSecrets {
        @(@((Invoke-Control GET 'secrets').secrets) + $script:madeUp) |
            Where-Object { $_ -and $_.Length -ge 8 } | Sort-Object -Unique
    }
    # All the text an ErrorRecord carries: what the console shows, the exception chain, the
    # details, the target and the script stack trace.
    function Get-ErrorText($Err) {
        $parts = New-Object System.Collections.Generic.List[string]
        $parts.Add(($Err | Out-String -Width 4096))
        $parts.Add([string]$Err.Exception.ToString())
        $parts.Add([string]$Err.ScriptStackTrace)
        $parts.Add([string]$Err.TargetObject)
        if ($Err.ErrorDetails) { $parts.Add([string]$Err.ErrorDetails.Message); $parts.Add([string]$Err.ErrorDetails.RecommendedAction) }
        foreach ($k in $Err.Exception.Data.Keys) { $parts.Add("$k=$($Err.Exception.Data[$k])") }
        $parts -join "`n"
    }
    function Assert-NoSecret([string]$Text) {
        foreach ($s in Get-KnownSecrets) { $Text.Contains($s) | Should -BeFalse -Because "a secret ($($s.Substring(0, 3))...) must not appear in an error" }
        $Text | Should -Not -Match 'eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.' -Because 'no token'
        $Text | Should -Not -Match 'PRIVATE KEY'
    }
    # Runs one hostile call and checks (a)-(d). The connection is tenant 0's admin unless the call
    # makes its own.
    function Assert-Refused([scriptblock]$Call, [string]$Id, [string]$Category, [string]$Pattern, [string]$Cmdlet) {
        $before = Get-StateText
        Clear-Log
        $err = $null
        try { $null = & $Call } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty -Because 'the input must be refused'
        $err.FullyQualifiedErrorId | Should -Be "$Id,$Cmdlet"
        [string]$err.CategoryInfo.Category | Should -Be $Category
        $err.Exception.Message | Should -Match $Pattern
        Get-AnyWrites | ForEach-Object { "$($_.method) $($_.path)" } | Should -BeNullOrEmpty -Because 'no write may reach the tenant'
        Get-StateText | Should -BeExactly $before -Because "the tenant's state is unchanged"
        Assert-NoSecret (Get-ErrorText $err)
        $script:ids[$Id] = 1 + [int]$script:ids[$Id]
        $err
    }
    $script:ids = [ordered]@{}

    # Tenant 0: the admin's tenant, onboarded once; a bystander app named 'y' (the target of an
    # injected "or displayName eq 'y'"); an app whose identity holds only read roles.
    $t0 = Connect-Tenant 0
    $app = New-KodoApp -DisplayName 'KODO input tests' -Confirm:$false
    $null = Invoke-PlainGraph $t0 POST applications @{ displayName = 'y' }
    $reader = Invoke-PlainGraph $t0 POST applications @{ displayName = 'Read-only identity' }
    $readerSp = Invoke-PlainGraph $t0 POST servicePrincipals @{ appId = $reader.appId }
    $readerSecret = (Invoke-PlainGraph $t0 POST "applications/$($reader.id)/addPassword" @{ passwordCredential = @{ displayName = 'reader' } }).secretText
    $graphSp = Invoke-PlainGraph $t0 GET "servicePrincipals(appId='00000003-0000-0000-c000-000000000000')?`$select=id,appRoles"
    foreach ($role in 'Application.Read.All', 'Organization.Read.All', 'Policy.Read.All') {
        $roleId = ($graphSp.appRoles | Where-Object value -eq $role).id
        $null = Invoke-PlainGraph $t0 POST "servicePrincipals/$($readerSp.id)/appRoleAssignments" @{ principalId = $readerSp.id; resourceId = $graphSp.id; appRoleId = $roleId }
    }
    $readerCredential = New-Object System.Management.Automation.PSCredential -ArgumentList @($reader.appId, (ConvertTo-SecureString $readerSecret -AsPlainText -Force))
    # A secret that ran out in 2020 (Entra keeps it until removed; the sign-in says AADSTS7000222).
    $expiredSecret = (Invoke-PlainGraph $t0 POST "applications/$($reader.id)/addPassword" @{ passwordCredential = @{ displayName = 'expired'; endDateTime = '2020-01-01T00:00:00Z' } }).secretText
    $expiredCredential = New-Object System.Management.Automation.PSCredential -ArgumentList @($reader.appId, (ConvertTo-SecureString $expiredSecret -AsPlainText -Force))
    $wrongSecret = 'Wr0ng~' + [guid]::NewGuid().ToString('N')
    $script:madeUp.Add($wrongSecret)
    $wrongCredential = New-Object System.Management.Automation.PSCredential -ArgumentList @($t0.BootstrapClientId, (ConvertTo-SecureString $wrongSecret -AsPlainText -Force))

    # Manifests: each bad one as a file.
    $graph = '00000003-0000-0000-c000-000000000000'
    function New-ManifestFile([string]$Name, [string]$Text) {
        $path = Join-Path $TestDrive $Name
        [System.IO.File]::WriteAllText($path, $Text)
        $path
    }
    function Get-RowJson([string]$Permission, [string]$Type = 'Application', [string]$Resource = $graph) {
        '{ "resourceAppId": "' + $Resource + '", "permission": "' + $Permission + '", "type": "' + $Type + '" }'
    }
    function Get-ManifestJson([string[]]$Rows) { "{ `"schema`": 1,`n  `"permissions`": [`n    " + ($Rows -join ",`n    ") + "`n  ]`n}" }
    $good = Get-RowJson 'User.Read.All'
    $manifests = [ordered]@{
        NotJson        = New-ManifestFile 'not-json.json' 'this is not JSON'
        Truncated      = New-ManifestFile 'truncated.json' "{ `"schema`": 1,`n  `"permissions`": [`n    $good,`n"
        Schema2        = New-ManifestFile 'schema2.json' ((Get-ManifestJson @($good)) -replace '"schema": 1', '"schema": 2')
        NoRows         = New-ManifestFile 'no-rows.json' '{ "schema": 1, "permissions": [] }'
        NotGuid        = New-ManifestFile 'not-guid.json' (Get-ManifestJson @($good, (Get-RowJson 'Mail.Read' 'Application' 'graph')))
        BadType        = New-ManifestFile 'bad-type.json' (Get-ManifestJson @($good, (Get-RowJson 'Mail.Read' 'Role')))
        MissingField   = New-ManifestFile 'missing-field.json' (Get-ManifestJson @($good, '{ "resourceAppId": "00000003-0000-0000-c000-000000000000", "type": "Application" }'))
        InjectedName   = New-ManifestFile 'injected-name.json' (Get-ManifestJson @($good, (Get-RowJson "Mail.Read' or 1 eq 1")))
        UnknownName    = New-ManifestFile 'unknown-name.json' (Get-ManifestJson @($good, (Get-RowJson 'Mail.Raed'), (Get-RowJson 'Sites.FullControl.Al')))
        UnknownApi     = New-ManifestFile 'unknown-api.json' (Get-ManifestJson @($good, (Get-RowJson 'Data.Read' 'Application' '11111111-2222-3333-4444-555555555555')))
        TooManyRows    = New-ManifestFile 'too-many-rows.json' (Get-ManifestJson @(1..10001 | ForEach-Object { $good }))
    }
    $missingManifest = Join-Path $TestDrive 'no-such-manifest.json'
}

AfterAll {
    if ($script:figures.Count) { $script:figures | ConvertTo-Json | Set-Content -LiteralPath (Join-Path ([System.IO.Path]::GetTempPath()) 'kodo-input-figures.json') }
    Write-Host ("Input figures: " + ($script:figures | ConvertTo-Json -Compress))
    Write-Host ("ErrorIds seen: " + (($script:ids.Keys | ForEach-Object { "$_ x$($script:ids[$_])" }) -join ', '))
    Stop-KodoEmulator
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'Permission manifests: every cmdlet that reads one refuses a bad one before any write' {
    BeforeDiscovery {
        $cmdlets = @(
            @{ Cmdlet = 'Grant-KodoPermissions'; Call = 'Grant-KodoPermissions -AppId $app.ClientId -ManifestPath $path -Confirm:$false' }
            @{ Cmdlet = 'Invoke-KodoOnboarding'; Call = 'Invoke-KodoOnboarding -Environment Emulator -ManifestPath $path -Confirm:$false' }
            @{ Cmdlet = 'Test-KodoApp'; Call = 'Test-KodoApp -AppId $app.ClientId -ManifestPath $path' }
            @{ Cmdlet = 'Get-KodoApp'; Call = 'Get-KodoApp -ManifestPath $path' }
        )
        $bad = @(
            @{ Manifest = 'NotJson'; Pattern = "manifest '.*not-json\.json' is not valid: expected .* at line 1 column \d" }
            @{ Manifest = 'Truncated'; Pattern = "manifest '.*truncated\.json' is not valid: .*line 4 column" }
            @{ Manifest = 'Schema2'; Pattern = "manifest '.*schema2\.json' has schema 2" }
            @{ Manifest = 'NoRows'; Pattern = "manifest '.*no-rows\.json' lists no permissions" }
            @{ Manifest = 'NotGuid'; Pattern = "not-guid\.json', row 2: resourceAppId 'graph' is not a GUID" }
            @{ Manifest = 'BadType'; Pattern = "bad-type\.json', row 2: type 'Role' is neither Application nor Delegated" }
            @{ Manifest = 'MissingField'; Pattern = "missing-field\.json' is not valid: missing field ``permission`` at line 4" }
            @{ Manifest = 'InjectedName'; Pattern = "injected-name\.json', row 2: 'Mail\.Read' or 1 eq 1' is not a permission name" }
            @{ Manifest = 'TooManyRows'; Pattern = "too-many-rows\.json' has 10001 rows; Kodo reads at most 10000" }
        )
        $cases = foreach ($c in $cmdlets) { foreach ($b in $bad) { $c + $b } }
    }
    BeforeEach { $null = Connect-Tenant 0 }
    It '<Cmdlet>: <Manifest>' -ForEach $cases {
        $path = $manifests[$Manifest]
        $null = Assert-Refused ([scriptblock]::Create($Call)) 'Kodo.InvalidArgument' 'InvalidArgument' $Pattern $Cmdlet
    }
    It '<Cmdlet>: a manifest file that does not exist' -ForEach $cmdlets {
        $path = $missingManifest
        $null = Assert-Refused ([scriptblock]::Create($Call)) 'Kodo.ManifestNotFound' 'ObjectNotFound' "manifest '.*no-such-manifest\.json' does not exist" $Cmdlet
    }
    It '<Cmdlet>: permission names this tenant does not offer (typos), named with their rows' -ForEach @(
        @{ Cmdlet = 'Grant-KodoPermissions'; Call = 'Grant-KodoPermissions -AppId $app.ClientId -ManifestPath $path -Confirm:$false' }
        @{ Cmdlet = 'Invoke-KodoOnboarding'; Call = 'Invoke-KodoOnboarding -Environment Emulator -ManifestPath $path -Confirm:$false' }
    ) {
        $path = $manifests.UnknownName
        $null = Assert-Refused ([scriptblock]::Create($Call)) 'Kodo.InvalidArgument' 'InvalidArgument' 'Nothing was changed: this tenant does not offer 2 .*row 2 .*Mail\.Raed.*row 3 .*Sites\.FullControl\.Al' $Cmdlet
        $path = $manifests.UnknownApi
        $null = Assert-Refused ([scriptblock]::Create($Call)) 'Kodo.InvalidArgument' 'InvalidArgument' 'does not offer 1 .*row 2 11111111-2222-3333-4444-555555555555 Data\.Read' $Cmdlet
    }
}

Describe 'A 5 000-row permission manifest' {
    BeforeAll {
        $null = Connect-Tenant 0
        $seed = Get-Content -Raw (Join-Path $script:ModuleDir 'Data/seed.json') | ConvertFrom-Json
        $rows = New-Object System.Collections.Generic.List[string]
        for ($i = 0; $i -lt 5000; $i++) { $rows.Add(($seed.permissions[$i % $seed.permissions.Count] | ConvertTo-Json -Compress -Depth 5)) }
        $big = New-ManifestFile 'big.json' (Get-ManifestJson $rows)
        $rows[4320] = Get-RowJson 'Mail.Read' 'Application' 'not-a-guid'
        $bigBad = New-ManifestFile 'big-bad.json' (Get-ManifestJson $rows)
    }
    It 'a malformed row is named by its row number, before any request' {
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $null = Assert-Refused { Grant-KodoPermissions -AppId $app.ClientId -ManifestPath $bigBad -Confirm:$false } 'Kodo.InvalidArgument' 'InvalidArgument' "big-bad\.json', row 4321: resourceAppId 'not-a-guid' is not a GUID" 'Grant-KodoPermissions'
        $script:figures['manifest5000RejectMs'] = $sw.ElapsedMilliseconds
        @(Get-Log).Count | Should -Be 0 -Because 'the manifest is checked before the tenant is read'
    }
    It 'a valid one (the seed repeated) resolves: every row reported, repeats as Duplicate, nothing written under -WhatIf' {
        Clear-Log
        $before = Get-StateText
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $result = @(Grant-KodoPermissions -AppId $app.ClientId -ManifestPath $big -WhatIf)
        $script:figures['manifest5000PlanMs'] = $sw.ElapsedMilliseconds
        @($result | Where-Object { $_.PSTypeNames -contains 'Kodo.PermissionResult' }).Count | Should -BeGreaterOrEqual 5000
        @($result | Where-Object Status -eq 'Duplicate').Count | Should -BeGreaterThan 4900
        Get-AnyWrites | Should -BeNullOrEmpty
        Get-StateText | Should -BeExactly $before
    }
}

Describe 'Display names' {
    BeforeEach { $null = Connect-Tenant 0 }
    It '<Cmdlet> -DisplayName <Case>' -ForEach @(
        @{ Cmdlet = 'New-KodoApp'; Case = 'whitespace only'; Name = '   '; Pattern = 'The display name is empty' }
        @{ Cmdlet = 'New-KodoApp'; Case = 'a control character'; Name = "KODO`tbackup"; Pattern = 'The display name contains control characters' }
        @{ Cmdlet = 'New-KodoApp'; Case = '257 characters'; Name = ('x' * 257); Pattern = 'The display name is longer than 256 characters' }
        @{ Cmdlet = 'Invoke-KodoOnboarding'; Case = 'empty'; Name = ''; Pattern = 'The display name is empty' }
        @{ Cmdlet = 'Invoke-KodoOnboarding'; Case = 'a newline'; Name = "KODO`nbackup"; Pattern = 'The display name contains control characters' }
        @{ Cmdlet = 'Invoke-KodoOnboarding'; Case = '257 characters'; Name = ('x' * 257); Pattern = 'The display name is longer than 256 characters' }
        @{ Cmdlet = 'Get-KodoApp'; Case = 'whitespace only'; Name = ' '; Pattern = 'The display name is empty' }
        @{ Cmdlet = 'Get-KodoApp'; Case = 'a NUL'; Name = "y`0"; Pattern = 'The display name contains control characters' }
    ) {
        $call = switch ($Cmdlet) {
            'New-KodoApp' { { New-KodoApp -DisplayName $Name -Confirm:$false } }
            'Invoke-KodoOnboarding' { { Invoke-KodoOnboarding -Environment Emulator -DisplayName $Name -Confirm:$false } }
            'Get-KodoApp' { { Get-KodoApp -DisplayName $Name } }
        }
        $null = Assert-Refused $call 'Kodo.InvalidArgument' 'InvalidArgument' $Pattern $Cmdlet
    }
    It 'New-KodoApp -DisplayName '''' is refused by parameter binding' {
        $null = Assert-Refused { New-KodoApp -DisplayName '' } 'ParameterArgumentValidationError' 'InvalidData' "DisplayName" 'New-KodoApp'
    }

    Context 'legal names with OData-injection characters' {
        BeforeDiscovery {
            $hostile = @(
                "x' or displayName eq 'y"
                "y') or startswith(displayName,'"
                'KODO "quoted" 100% #1'
                'KODO $filter=displayName eq ''y''&$top=1'
                "O'Brien's backup; ?a=b&c=%27 / \ +"
                "y' or 1 eq 1 or displayName eq '"
            )
        }
        It 'Get-KodoApp -DisplayName "<_>" matches no other app, and its $filter carries the name as one escaped literal' -ForEach $hostile {
            $name = $_
            Clear-Log
            $found = @(Get-KodoApp -DisplayName $name)
            $found.Count | Should -Be 0 -Because "no app is named $name (the app 'y' must not match)"
            $reads = @(Get-Log | Where-Object { $_.method -eq 'GET' -and $_.path -eq '/v1.0/applications' -and $_.query -like '*displayName*' })
            $reads.Count | Should -Be 1
            # As sent: '+' is a space (form encoding), every other special character %-encoded.
            $raw = ($reads[0].query -split '&' | Where-Object { $_ -like '%24filter=*' -or $_ -like '$filter=*' }) -replace '^(%24|\$)filter=', ''
            $filter = [System.Uri]::UnescapeDataString($raw.Replace('+', ' '))
            $filter | Should -BeExactly ("displayName eq '" + $name.Replace("'", "''") + "'")
        }
        It 'an app onboarded under such a name gets it as given, and is the only one found by it' {
            $t = Connect-Tenant 1
            $name = "KODO 'x' or displayName eq 'y' `"100%`" #1 &`$filter=1"
            $null = Invoke-PlainGraph $t POST applications @{ displayName = 'y' }
            Clear-Log
            $r = Invoke-KodoOnboarding -Environment Emulator -DisplayName $name -SkipAudit -Confirm:$false
            $r.Status | Should -Be 'Succeeded'
            # Every query the onboarding sent: the name never appears in one unescaped (it finds
            # its app by tag, not by name).
            foreach ($q in @(Get-Log | Where-Object { $_.query } | ForEach-Object { [System.Uri]::UnescapeDataString($_.query.Replace('+', ' ')) })) {
                $q.Contains($name) | Should -BeFalse -Because "the raw name must not reach a query: $q"
            }
            $state = (Get-StateText | ConvertFrom-Json).tenants | Where-Object tenantId -eq $t.TenantId
            ($state.applications | Where-Object appId -eq $r.ClientId).displayName | Should -BeExactly $name
            $found = @(Get-KodoApp -DisplayName $name)
            $found.Count | Should -Be 1
            $found[0].AppId | Should -Be $r.ClientId
            @(Get-KodoApp -DisplayName "x' or displayName eq 'y").Count | Should -Be 0
            # A re-run under the same name finds the app by its tag: nothing new.
            Clear-Log
            $again = Invoke-KodoOnboarding -Environment Emulator -DisplayName $name -SkipAudit -Confirm:$false
            $again.ClientId | Should -Be $r.ClientId
            Get-AnyWrites | Should -BeNullOrEmpty
        }
    }
}

Describe 'Tenant ids, secrets and roles at sign-in' {
    BeforeEach { $null = Connect-Tenant 0 }
    It 'Connect-Kodo -TenantId <Case>' -ForEach @(
        @{ Case = 'an unknown GUID'; Id = 'Kodo.NotFound'; Category = 'ObjectNotFound'; Tenant = '0badc0de-0000-4000-8000-000000000001'; Pattern = "Tenant '0badc0de-0000-4000-8000-000000000001' was not found.*AADSTS90002" }
        @{ Case = 'an unknown domain'; Id = 'Kodo.NotFound'; Category = 'ObjectNotFound'; Tenant = 'nosuch.onmicrosoft.com'; Pattern = "Tenant 'nosuch\.onmicrosoft\.com' was not found" }
        @{ Case = 'an injected OData fragment'; Id = 'Kodo.InvalidArgument'; Category = 'InvalidArgument'; Tenant = "x' or 1 eq 1"; Pattern = "The tenant 'x' or 1 eq 1' is neither a GUID nor a domain name" }
        @{ Case = 'a path'; Id = 'Kodo.InvalidArgument'; Category = 'InvalidArgument'; Tenant = '../../v1.0/applications'; Pattern = "The tenant '\.\./\.\./v1\.0/applications' is neither" }
        @{ Case = 'a bare word'; Id = 'Kodo.InvalidArgument'; Category = 'InvalidArgument'; Tenant = 'contoso'; Pattern = "The tenant 'contoso' is neither" }
        @{ Case = 'an empty label'; Id = 'Kodo.InvalidArgument'; Category = 'InvalidArgument'; Tenant = 'contoso..onmicrosoft.com'; Pattern = "The tenant 'contoso\.\.onmicrosoft\.com' is neither" }
        @{ Case = 'a GUID with a stray character'; Id = 'Kodo.InvalidArgument'; Category = 'InvalidArgument'; Tenant = '0badc0de-0000-4000-8000-00000000000g'; Pattern = "is neither a GUID" }
        @{ Case = 'another tenant''s'; Id = 'Kodo.NotFound'; Category = 'ObjectNotFound'; Tenant = '<other>'; Pattern = 'was not found in tenant .*AADSTS700016' }
    ) {
        $tenant = if ($Tenant -eq '<other>') { $emu.Tenants[1].TenantId } else { $Tenant }
        $null = Assert-Refused { Connect-Kodo -Environment Emulator -TenantId $tenant -ClientSecretCredential $t0.BootstrapCredential } $Id $Category $Pattern 'Connect-Kodo'
        if ($Id -eq 'Kodo.InvalidArgument') { @(Get-Log).Count | Should -Be 0 -Because 'a malformed tenant is refused before any request' }
    }
    It 'Connect-Kodo with <Case>' -ForEach @(
        @{ Case = 'a wrong secret'; Id = 'Kodo.AuthenticationFailed'; Category = 'AuthenticationError'; Pattern = 'secret for app .* is wrong.*AADSTS7000215'; Credential = 'wrong' }
        @{ Case = 'an expired secret (its end date passed)'; Id = 'Kodo.AuthenticationFailed'; Category = 'AuthenticationError'; Pattern = 'has expired.*AADSTS7000222'; Credential = 'expired' }
        @{ Case = 'an expired secret (fault rule aadsts 7000222)'; Id = 'Kodo.AuthenticationFailed'; Category = 'AuthenticationError'; Pattern = 'has expired.*AADSTS7000222'; Credential = 'fault' }
    ) {
        $cred = switch ($Credential) { 'wrong' { $wrongCredential } 'expired' { $expiredCredential } 'fault' { $t0.BootstrapCredential } }
        if ($Credential -eq 'fault') { $null = Invoke-Control POST faults @{ pathContains = '/oauth2/v2.0/token'; aadsts = 7000222; count = 1 } }
        try {
            $null = Assert-Refused { Connect-Kodo -Environment Emulator -TenantId $t0.TenantId -ClientSecretCredential $cred } $Id $Category $Pattern 'Connect-Kodo'
        } finally { $null = Invoke-Control DELETE faults }
        # Connected to tenant 0 before: after a failed switch, no command may run against it.
        Get-KodoContext | Should -BeNullOrEmpty -Because 'a failed sign-in leaves no connection, not the previous one'
    }

    Context 'a caller without the needed role (an app holding only Application.Read.All, Organization.Read.All, Policy.Read.All)' {
        BeforeEach { $null = Connect-Kodo -Environment Emulator -TenantId $t0.TenantId -ClientSecretCredential $readerCredential }
        It '<Cmdlet>' -ForEach @(
            # (New-KodoApp without -NewSecret finds the app in place and has nothing to write.)
            @{ Cmdlet = 'New-KodoApp'; Call = { New-KodoApp -AppId $app.ClientId -NewSecret -Confirm:$false }; Pattern = 'Nothing was changed: the signed-in app .* lacks the Microsoft Graph application permission Application\.ReadWrite\.All or Application\.ReadWrite\.OwnedBy .*its token carries Application\.Read\.All' }
            # These two stop at a read the identity may not make (the delegated grants).
            @{ Cmdlet = 'Grant-KodoPermissions'; Call = { Grant-KodoPermissions -AppId $app.ClientId -Confirm:$false }; Pattern = 'lacks the Microsoft Graph permission for this step.*AppRoleAssignment\.ReadWrite\.All and DelegatedPermissionGrant\.ReadWrite\.All' }
            @{ Cmdlet = 'Remove-KodoApp'; Call = { Remove-KodoApp -AppId $app.ClientId -Force }; Pattern = 'lacks the Microsoft Graph permission for this step.*Application\.ReadWrite\.All' }
            @{ Cmdlet = 'Remove-KodoAppCredential'; Call = { Remove-KodoAppCredential -AppId $app.ClientId -KeyId $app.SecretKeyId -Force }; Pattern = 'lacks the Microsoft Graph application permission Application\.ReadWrite\.All' }
            @{ Cmdlet = 'Update-KodoAppCredential'; Call = { Update-KodoAppCredential -AppId $app.ClientId -Confirm:$false }; Pattern = 'lacks the Microsoft Graph application permission Application\.ReadWrite\.All' }
            @{ Cmdlet = 'Invoke-KodoOnboarding'; Call = { Invoke-KodoOnboarding -Environment Emulator -Confirm:$false }; Pattern = 'Exchange Online refused Get-OrganizationConfig \(HTTP 401\): the signed-in identity holds neither Exchange\.ManageAsApp' }
            @{ Cmdlet = 'Grant-KodoEwsAccess'; Call = { Grant-KodoEwsAccess -AppId $app.ClientId -Confirm:$false }; Pattern = 'holds neither Exchange\.ManageAsApp nor an Exchange Online admin role' }
        ) {
            $null = Assert-Refused $Call 'Kodo.PermissionDenied' 'PermissionDenied' $Pattern $Cmdlet
        }
        It 'its -WhatIf still plans (a plan writes nothing)' {
            Clear-Log
            { New-KodoApp -DisplayName 'KODO by a reader' -WhatIf } | Should -Not -Throw
            Get-AnyWrites | Should -BeNullOrEmpty
        }
    }
}

Describe 'Tenant lists (Invoke-KodoOnboarding -TenantId, or objects piped from Import-Csv)' {
    It 'malformed and repeated entries of a 5 000-row CSV are named by entry and line, before any sign-in' {
        $csv = Join-Path $TestDrive 'tenants.csv'
        $lines = New-Object System.Collections.Generic.List[string]
        $lines.Add('TenantId,Note')
        for ($i = 1; $i -le 5000; $i++) { $lines.Add(('{0},customer {1}' -f [guid]::NewGuid(), $i)) }
        $lines[17] = "contoso,entry 17"                      # line 18
        $lines[2500] = "`"x' or 1 eq 1`",entry 2500"         # line 2501
        $lines[3000] = ",entry 3000 (empty)"                  # line 3001
        $lines[4999] = ($lines[4] -split ',')[0] + ',entry 4999 repeats entry 4'
        Set-Content -LiteralPath $csv -Value $lines
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $err = Assert-Refused { Import-Csv $csv | Invoke-KodoOnboarding -Environment Emulator -ClientSecretCredential $t0.BootstrapCredential -Confirm:$false } `
            'Kodo.InvalidArgument' 'InvalidArgument' "Nothing was done: 4 of the 5000 entries of the tenant list cannot be used" 'Invoke-KodoOnboarding'
        $script:figures['tenantList5000RejectMs'] = $sw.ElapsedMilliseconds
        $m = $err.Exception.Message
        $m | Should -Match "entry 17 \(line 18\) 'contoso' is neither a GUID nor a domain name"
        $m | Should -Match "entry 2500 \(line 2501\) 'x' or 1 eq 1' is neither"
        $m | Should -Match "entry 3000 \(line 3001\) '' is empty"
        $m | Should -Match "entry 4999 \(line 5000\) '[0-9a-f-]{36}' repeats entry 4"
        @(Get-Log).Count | Should -Be 0 -Because 'nothing is signed in to until the whole list is good'
    }
    # The fast tier (CI) runs 500 good entries; the long tier (KODO_RELIABILITY=long) all 5 000.
    It 'a <Rows>-row list of good entries runs: the real tenants onboard, each unknown one fails on its own' -ForEach @(
        @{ Rows = $(if ($env:KODO_RELIABILITY -eq 'long') { 5000 } else { 500 }) }
    ) {
        $t3 = $emu.Tenants[3]; $t4 = $emu.Tenants[4]
        $items = New-Object System.Collections.Generic.List[object]
        $items.Add([pscustomobject]@{ TenantId = $t3.TenantId; ClientSecretCredential = $t3.BootstrapCredential })
        for ($i = 2; $i -lt $Rows; $i++) { $items.Add([pscustomobject]@{ TenantId = [guid]::NewGuid().ToString(); ClientSecretCredential = $t3.BootstrapCredential }) }
        $items.Add([pscustomobject]@{ TenantId = $t4.InitialDomain; ClientSecretCredential = $t4.BootstrapCredential })
        Clear-Log
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $results = @($items | Invoke-KodoOnboarding -Environment Emulator -SkipAudit -ThrottleLimit 16 -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failures)
        $script:figures["tenantList${Rows}RunMs"] = $sw.ElapsedMilliseconds
        $results.Count | Should -Be $Rows
        $succeeded = @($results | Where-Object Status -eq 'Succeeded')
        $succeeded.Count | Should -Be 2
        $results[0].Status | Should -Be 'Succeeded'
        $results[$Rows - 1].Status | Should -Be 'Succeeded' -Because 'the last entry, named by its domain, is a real tenant'
        @($results | Where-Object Status -eq 'Failed').Count | Should -Be ($Rows - 2)
        ($results | Where-Object Status -eq 'Failed' | Select-Object -First 1).Error | Should -Match '^Kodo\.NotFound: Tenant .* was not found'
        $tenantFailed = @($failures | Where-Object { $_.FullyQualifiedErrorId -like 'Kodo.TenantFailed,*' })
        $tenantFailed.Count | Should -Be ($Rows - 2)
        [string]$tenantFailed[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        Assert-NoSecret ((($failures | Select-Object -First 20 | ForEach-Object { Get-ErrorText $_ }) -join "`n") + ($results | Select-Object -First 20 | Out-String))
        @(Get-AnyWrites | Where-Object { $_.tenantId -and $_.tenantId -notin $t3.TenantId, $t4.TenantId }).Count | Should -Be 0
    }
    It 'a wrong or expired secret fails each tenant with its reason and writes nothing' {
        $before = Get-StateText
        Clear-Log
        $results = @(
            [pscustomobject]@{ TenantId = $t0.TenantId; ClientSecretCredential = $wrongCredential }
            [pscustomobject]@{ TenantId = $t0.InitialDomain; ClientSecretCredential = $expiredCredential }
        ) | Invoke-KodoOnboarding -Environment Emulator -Confirm:$false -ErrorAction SilentlyContinue -ErrorVariable failures
        # The second names the same tenant by its domain: not caught as a repeat (Kodo cannot
        # know a GUID's domain before signing in), and harmless here: neither signs in.
        @($results).Count | Should -Be 2
        $results[0].Error | Should -Match '^Kodo\.AuthenticationFailed: The client secret for app .* is wrong'
        $results[1].Error | Should -Match '^Kodo\.AuthenticationFailed: The client secret of app .* has expired'
        @($failures | Where-Object { $_.FullyQualifiedErrorId -like 'Kodo.TenantFailed,*' -and [string]$_.CategoryInfo.Category -eq 'AuthenticationError' }).Count | Should -Be 2
        Get-AnyWrites | Should -BeNullOrEmpty
        Get-StateText | Should -BeExactly $before
        Assert-NoSecret ((($failures | ForEach-Object { Get-ErrorText $_ }) -join "`n") + ($results | Format-List * | Out-String))
    }
}
