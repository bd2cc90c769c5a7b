# The consent path's cost per customer tenant against the emulator (README "Service providers"):
# Test-KodoConsent before and after the admin consent, New-KodoConsentLink. Run: pwsh ./benches/consent.ps1
. (Join-Path $PSScriptRoot "../tests/pester/TestHelpers.ps1")
Import-Module $script:ManifestPath -Force
$emu = Start-KodoEmulator -Tenants 2
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
Stop-KodoEmulator
