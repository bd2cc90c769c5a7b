# Get-KodoApp against the tenant emulator: it finds the app Kodo made and one an admin made by
# hand with plain Graph calls (the manual's way), leaves unrelated apps out, describes each with
# correct expiry and missing-permission figures, writes nothing, and pipes into the cmdlets
# that act on an app.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $script:ManifestPath -Force
    $emu = Start-KodoEmulator -Tenants 2
    $t = Connect-Tenant 0

    # Plain Graph, outside Kodo (the test trusts the emulator's self-made CA by skipping the check).
    $body = @{ grant_type = 'client_credentials'; client_id = $t.BootstrapClientId; client_secret = $t.BootstrapCredential.GetNetworkCredential().Password; scope = 'https://graph.microsoft.com/.default' }
    $token = (Invoke-RestMethod -Method Post -Uri "$($emu.Url)/$($t.TenantId)/oauth2/v2.0/token" -Body $body -SkipCertificateCheck).access_token
    function Invoke-PlainGraph([string]$Method, [string]$Path, $Body) {
        $params = @{ Method = $Method; Uri = "$($emu.Url)/v1.0/$Path"; Headers = @{ Authorization = "Bearer $token" }; SkipCertificateCheck = $true }
        if ($null -ne $Body) { $params['Body'] = ($Body | ConvertTo-Json -Depth 10); $params['ContentType'] = 'application/json' }
        Invoke-RestMethod @params
    }

    # The app Kodo makes, onboarded in full.
    $script:Kodo = Invoke-KodoOnboarding -DisplayName 'KODO for Cloud backup' -Confirm:$false
    $script:Kodo.Status | Should -Be 'Succeeded'
    $declared = (Invoke-PlainGraph GET "applications(appId='$($script:Kodo.ClientId)')").requiredResourceAccess
    # One made by hand from the manual: the same API permissions, no consent, a secret for 10 days.
    $hand = Invoke-PlainGraph POST 'applications' @{ displayName = 'KODO by hand'; requiredResourceAccess = @($declared) }
    $script:HandAppId = $hand.appId
    $script:HandSecretEnds = [datetime]::UtcNow.AddDays(10)
    $null = Invoke-PlainGraph POST "applications/$($hand.id)/addPassword" @{ passwordCredential = @{ displayName = 'from the manual'; endDateTime = $script:HandSecretEnds.ToString('o') } }
    $null = Invoke-PlainGraph POST 'servicePrincipals' @{ appId = $hand.appId }
    # And an app that has nothing to do with KODO.
    $script:Other = Invoke-PlainGraph POST 'applications' @{ displayName = 'Expense reports' }
}

AfterAll {
    Disconnect-Kodo
    Stop-KodoEmulator
}

Describe 'Get-KodoApp' {
    It 'finds the app Kodo made and the one made by hand, and nothing else, without writing anything' {
        Clear-Log
        $all = @(Get-KodoApp)
        Get-GraphWrites | Should -BeNullOrEmpty
        @($all | ForEach-Object AppId | Sort-Object) | Should -Be @(@($script:Kodo.ClientId, $script:HandAppId) | Sort-Object)
        $all | ForEach-Object { $_.PSObject.TypeNames[0] | Should -Be 'Kodo.AppStatus' }
        $all.AppId | Should -Not -Contain $script:Other.appId
        $all.AppId | Should -Not -Contain $t.BootstrapClientId
    }

    It 'describes the onboarded app: found by its tag, nothing missing, a two-year secret' {
        $a = Get-KodoApp -AppId $script:Kodo.ClientId
        $a.IdentifiedBy | Should -Be 'KodoTag'
        $a.KodoManaged | Should -BeTrue
        $a.DisplayName | Should -Be 'KODO for Cloud backup'
        $a.Status | Should -BeIn 'Pass', 'Warn'
        @($a.Checks | Where-Object Status -eq 'Fail') | Should -BeNullOrEmpty
        $a.MissingPermissions | Should -BeNullOrEmpty
        $a.Permissions | Should -BeGreaterThan 20
        @($a.Credentials).Count | Should -Be 1
        $a.Credentials[0].Type | Should -Be 'ClientSecret'
        $a.DaysLeft | Should -BeIn 729, 730
        $a.EwsStatus | Should -Be 'Pass'
    }

    It 'describes the hand-made app: found by its permissions, every one missing consent, its secret ending in 10 days' {
        $a = Get-KodoApp -DisplayName 'KODO by hand'
        @($a).Count | Should -Be 1
        $a.AppId | Should -Be $script:HandAppId
        $a.IdentifiedBy | Should -Be 'Permissions'
        (Get-KodoApp -AppId $script:Other.appId).IdentifiedBy | Should -Be 'Neither' -Because 'asked for by id, an app is shown even when it is not KODO''s'
        $a.KodoManaged | Should -BeFalse
        $a.Status | Should -Be 'Fail'
        $a.Credentials[0].Type | Should -Be 'ClientSecret'
        $a.Credentials[0].Name | Should -Be 'from the manual'
        $a.Credentials[0].ExpiresOn | Should -BeGreaterThan $script:HandSecretEnds.AddMinutes(-5)
        $a.Credentials[0].ExpiresOn | Should -BeLessThan $script:HandSecretEnds.AddMinutes(5)
        $a.DaysLeft | Should -BeIn 9, 10
        # Every permission the manifest asks for and this tenant offers is declared but not consented.
        $permissionFails = @($a.Checks | Where-Object { $_.Area -eq 'Permission' -and $_.Status -eq 'Fail' })
        @($a.MissingPermissions).Count | Should -Be $permissionFails.Count
        @($a.MissingPermissions).Count | Should -Be (Get-KodoApp -AppId $script:Kodo.ClientId).Permissions
        $a.SharePointReady | Should -BeFalse
        $a.SharePoint | Should -Match 'no certificate'
    }

    It 'says so when the app does not exist, and refuses a malformed id' {
        { Get-KodoApp -AppId ([guid]::NewGuid()) } | Should -Throw -ErrorId 'Kodo.NotFound,Get-KodoApp'
        { Get-KodoApp -AppId 'kodo' } | Should -Throw -ErrorId 'ParameterArgumentValidationError,Get-KodoApp'
        @(Get-KodoApp -DisplayName 'No such app') | Should -BeNullOrEmpty
    }

    It 'reads as a table and as a list' {
        $table = Get-KodoApp | Format-Table | Out-String -Width 200
        $table | Should -Match 'DaysLeft'
        $table | Should -Match 'KODO by hand'
        $list = Get-KodoApp -AppId $script:HandAppId | Format-List | Out-String -Width 200
        $list | Should -Match 'Missing permissions'
        $list | Should -Match 'from the manual: (9|10) days left'
        $list | Should -Match 'its API permissions \(made by hand\?\)'
    }
}

Describe 'Get-KodoApp in a pipeline' {
    It 'into Update-KodoAppCredential -WhatIf: nothing written' {
        Clear-Log
        Get-KodoApp -AppId $script:HandAppId | Update-KodoAppCredential -WhatIf
        Get-GraphWrites | Should -BeNullOrEmpty
    }

    It 'into Test-KodoApp and Grant-KodoPermissions: the hand-made app is consented and then passes its permission checks' {
        $before = Get-KodoApp -AppId $script:HandAppId | Test-KodoApp -Summary
        $before.Passed | Should -BeFalse
        $null = Get-KodoApp -AppId $script:HandAppId | Grant-KodoPermissions -Confirm:$false
        $after = Get-KodoApp -AppId $script:HandAppId
        $after.MissingPermissions | Should -BeNullOrEmpty
    }

    It 'into Update-KodoAppCredential -RemoveOld -WhatIf: names the credential it would add and each it would remove, and writes nothing' {
        $before = Get-KodoApp -AppId $script:Kodo.ClientId
        $oldSecret = @($before.Credentials | Where-Object Type -eq 'ClientSecret')[0]
        $transcript = Join-Path $TestDrive 'whatif.txt'
        Clear-Log
        $null = Start-Transcript -LiteralPath $transcript
        try { $out = Get-KodoApp -AppId $script:Kodo.ClientId | Update-KodoAppCredential -RemoveOld -WhatIf } finally { $null = Stop-Transcript }
        $out | Should -BeNullOrEmpty
        Get-GraphWrites | Should -BeNullOrEmpty
        $said = Get-Content -Raw -LiteralPath $transcript
        $said | Should -Match 'What if: .*Create a client secret valid for 730 days'
        $said | Should -Match ('What if: .*' + [regex]::Escape($oldSecret.KeyId))
    }

    It 'rotates certificates as it rotates secrets: the new one added and returned, the old one removed only with -RemoveOld' {
        $pw = ConvertTo-SecureString ([guid]::NewGuid().ToString()) -AsPlainText -Force
        $first = Get-KodoApp -AppId $script:Kodo.ClientId | Update-KodoAppCredential -Type Certificate -CertificatePassword $pw -CertificatePath (Join-Path $TestDrive 'kodo-1.pfx') -Confirm:$false
        $first.CertificateThumbprint | Should -Match '^[0-9A-F]{40}$'
        Join-Path $TestDrive 'kodo-1.pfx' | Should -Exist
        $certs = @((Get-KodoApp -AppId $script:Kodo.ClientId).Credentials | Where-Object Type -eq 'Certificate')
        $certs.Count | Should -Be 1
        $certs[0].DaysLeft | Should -BeIn 364, 365
        $second = Update-KodoAppCredential -AppId $script:Kodo.ClientId -Type Certificate -CertificatePassword $pw -CertificatePath (Join-Path $TestDrive 'kodo-2.pfx') -Lifetime 30 -RemoveOld -Confirm:$false
        $second.CertificateThumbprint | Should -Not -Be $first.CertificateThumbprint
        $after = Get-KodoApp -AppId $script:Kodo.ClientId
        $certs = @($after.Credentials | Where-Object Type -eq 'Certificate')
        $certs.Count | Should -Be 1 -Because 'the first certificate was removed after the second was added'
        $certs[0].DaysLeft | Should -BeIn 29, 30
        @($after.Credentials | Where-Object Type -eq 'ClientSecret').Count | Should -Be 1 -Because 'a certificate rotation leaves the secrets alone'
        $after.SharePointReady | Should -BeTrue
    }

    It 'into Remove-KodoApp: the app is gone' {
        Get-KodoApp -AppId $script:HandAppId | Remove-KodoApp -Confirm:$false | Out-Null
        { Get-KodoApp -AppId $script:HandAppId } | Should -Throw -ErrorId 'Kodo.NotFound,Get-KodoApp'
    }
}

Describe 'Invoke-KodoOnboarding -CredentialType Certificate' {
    It 'gives the new app a certificate and no secret; its PFX signs in as the app to Graph and SharePoint; Get-KodoApp shows it' {
        $t2 = Connect-Tenant 1
        $pw = ConvertTo-SecureString ([guid]::NewGuid().ToString()) -AsPlainText -Force
        $pfx = Join-Path $TestDrive 'kodo-certificate-only.pfx'
        Clear-Log
        $r = Invoke-KodoOnboarding -CredentialType Certificate -NewCertificatePassword $pw -NewCertificatePath $pfx -Confirm:$false
        $r.Status | Should -Be 'Succeeded'
        $r.CredentialType | Should -Be 'Certificate'
        $r.ClientSecret | Should -BeNullOrEmpty
        $r.CredentialNote | Should -Match 'Certificate only'
        $pfx | Should -Exist
        @(Get-Log | Where-Object { $_.path -like '*/addPassword' }) | Should -BeNullOrEmpty
        $a = Get-KodoApp -AppId $r.ClientId
        @($a.Credentials | ForEach-Object Type) | Should -Be @('Certificate')
        $a.SharePointReady | Should -BeTrue
        $a.DaysLeft | Should -BeIn 364, 365
        # Live: sign in as the app with the PFX, to Microsoft Graph and to SharePoint.
        $live = @(Test-KodoApp -AppId $r.ClientId -CertificatePath $pfx -CertificatePassword $pw -Detailed)
        $signIn = @($live | Where-Object { $_.PSObject.TypeNames[0] -eq 'Kodo.AppCheck' -and $_.Area -eq 'SignIn' })
        ($signIn | Where-Object Check -like '*Microsoft Graph*' | Select-Object -First 1).Status | Should -Be 'Pass'
        @($signIn | Where-Object { $_.Check -like '*SharePoint*' -and $_.Status -eq 'Pass' }).Count | Should -BeGreaterThan 0 -Because (($signIn | ForEach-Object { "$($_.Check): $($_.Status) $($_.Detail)" }) -join '; ')
    }

    It 'refuses -CredentialType Certificate without a PFX password, before any write' {
        $null = Connect-Tenant 1
        Clear-Log
        { Invoke-KodoOnboarding -DisplayName 'KODO no password' -CredentialType Certificate -Confirm:$false } | Should -Throw -ErrorId 'Kodo.InvalidArgument,Invoke-KodoOnboarding'
        Get-GraphWrites | Should -BeNullOrEmpty
    }

    It 'refuses the certificate store off Windows (the key would sit in a file without a password), before any write' -Skip:$IsWindows {
        $null = Connect-Tenant 1
        Clear-Log
        $storeFolder = Join-Path $HOME '.dotnet/corefx/cryptography/x509stores/my'
        $before = @(Get-ChildItem -LiteralPath $storeFolder -ErrorAction Ignore).Count
        { Invoke-KodoOnboarding -DisplayName 'KODO store' -CredentialType Certificate -NewCertificateStoreLocation CurrentUser -Confirm:$false } |
            Should -Throw -ErrorId 'Kodo.CertificateStoreUnavailable,Invoke-KodoOnboarding' -ExpectedMessage '*Windows only*-NewCertificatePath*'
        { Invoke-KodoOnboarding -DisplayName 'KODO store' -NewCertificateStoreLocation CurrentUser -Confirm:$false } |
            Should -Throw -ErrorId 'Kodo.InvalidArgument,Invoke-KodoOnboarding' -ExpectedMessage '*goes with -CredentialType Certificate*'
        Get-GraphWrites | Should -BeNullOrEmpty
        @(Get-ChildItem -LiteralPath $storeFolder -ErrorAction Ignore).Count | Should -Be $before -Because 'no key was put in .NET''s file-based store'
    }
}
