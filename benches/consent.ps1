# The consent path's cost per customer tenant against the emulator (README "Service providers"):
# Test-KodoConsent before and after the admin consent, New-KodoConsentLink, and the GDAP path
# (Grant-KodoConsent: first run, re-run). Run: pwsh ./benches/consent.ps1
. (Join-Path $PSScriptRoot "../tests/pester/TestHelpers.ps1")
Import-Module $script:ManifestPath -Force
$emu = Start-KodoEmulator -Tenants 3 -AutoApproveDeviceCodes
$null = Connect-Tenant 0
$redirect = 'https://partner.example/kodo/consented'
$app = New-KodoApp -MultiTenant -ConsentRedirectUri $redirect -Confirm:$false
$null = Grant-KodoPermissions -AppId $app.ClientId -Confirm:$false
$c = $emu.Tenants[1].TenantId
Clear-Log
$t = Measure-Command { $before = Test-KodoConsent -AppId $app.ClientId -TenantId $c -ClientSecret $app.ClientSecret }
"before consent: $($before.Status), $([int]$t.TotalMilliseconds) ms, requests: $((Get-Log).Count)"
$link = New-KodoConsentLink -AppId $app.ClientId -TenantId $c -RedirectUri $redirect
$page = Invoke-WebRequest -Uri $link.Url -SkipCertificateCheck
$form = [regex]::Match($page.Content, '<form method="post" action="([^"]+)"').Groups[1].Value
$null = Invoke-WebRequest -Method Post -Uri $form -Body @{ action = 'accept' } -SkipCertificateCheck -MaximumRedirection 0 -SkipHttpErrorCheck -ErrorAction SilentlyContinue
$times = foreach ($i in 1..5) {
    Clear-Log
    $m = Measure-Command { $after = Test-KodoConsent -AppId $app.ClientId -TenantId $c -ClientSecret $app.ClientSecret }
    [pscustomobject]@{ ms = $m.TotalMilliseconds; requests = (Get-Log).Count; writes = @(Get-Log | Where-Object { $_.method -ne 'GET' -and $_.path -notlike '*/token' }).Count; status = $after.Status }
}
$sorted = $times | Sort-Object ms
"after consent: $($times[0].status), median $([int]$sorted[2].ms) ms, requests $($times[0].requests) (all token requests), writes $($times[0].writes)"
$lt = foreach ($i in 1..5) { (Measure-Command { $null = New-KodoConsentLink -AppId $app.ClientId -TenantId $c -RedirectUri $redirect }).TotalMilliseconds }
"New-KodoConsentLink: median $([int](($lt | Sort-Object)[2])) ms, 0 requests"
# The GDAP path: the partner's admin (device code) grants the app in customer 2, then re-runs.
$g = $emu.Tenants[2].TenantId
# Privileged Role Administrator, Application Administrator, Exchange Administrator (the EWS allow list).
$roles = @('e8611ab8-c189-46e8-94e1-60213ab1f814', '9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3', '29232cdf-9323-42fd-ade2-1d097af3e4de')
$null = Invoke-Control POST "tenants/$($emu.Tenants[0].TenantId)/delegatedAdminRelationships" @{ customerTenantId = $g; roleDefinitionIds = $roles }
Disconnect-Kodo
$null = Connect-Kodo -Environment Emulator -TenantId $emu.Tenants[0].TenantId -UseDeviceCode 6>$null
$null = Get-KodoContext
# Exchange's own sign-in client (its device code) once, outside the timing, as an admin's first use does.
$null = Grant-KodoConsent -AppId $app.ClientId -TenantId $g -WhatIf
Clear-Log
$m = Measure-Command { $first = Grant-KodoConsent -AppId $app.ClientId -TenantId $g -Confirm:$false }
$log = @(Get-Log)
"Grant-KodoConsent (GDAP), first run: $($first.Changes.Count) changes, $([int]$m.TotalMilliseconds) ms, round trips $(@($log | Where-Object { -not $_.batch }).Count) (token $(@($log | Where-Object path -like '*/token').Count), Graph writes $(@(Get-GraphWrites).Count), Exchange $(@($log | Where-Object path -like '*/InvokeCommand').Count)), EWS $($first.Ews.Status)"
$rt = foreach ($i in 1..5) {
    Clear-Log
    $m = Measure-Command { $again = Grant-KodoConsent -AppId $app.ClientId -TenantId $g -Confirm:$false }
    [pscustomobject]@{ ms = $m.TotalMilliseconds; requests = @(Get-Log | Where-Object { -not $_.batch }).Count; writes = @(Get-GraphWrites).Count; changes = $again.Changes.Count }
}
"Grant-KodoConsent (GDAP), re-run: median $([int](($rt | Sort-Object ms)[2].ms)) ms, requests $($rt[0].requests) (round trips), writes $($rt[0].writes), changes $($rt[0].changes)"
$mailbox = "admin@$($emu.Tenants[2].InitialDomain)"
$pt = foreach ($i in 1..5) {
    Clear-Log
    $m = Measure-Command { $ready = Test-KodoConsent -AppId $app.ClientId -TenantId $g -ClientSecret $app.ClientSecret -EwsMailbox $mailbox }
    [pscustomobject]@{ ms = $m.TotalMilliseconds; requests = (Get-Log).Count; status = $ready.Status }
}
"Test-KodoConsent -EwsMailbox after the GDAP path: $($pt[0].status), median $([int](($pt | Sort-Object ms)[2].ms)) ms, requests $($pt[0].requests)"
Stop-KodoEmulator
