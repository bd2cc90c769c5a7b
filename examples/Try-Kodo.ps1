# Try Kodo without a tenant: the whole onboarding procedure against the local tenant emulator.
#   pwsh -NoProfile -File ./examples/Try-Kodo.ps1
# In a source checkout it uses the module built beside it; elsewhere the installed Kodo and
# Kodo.Emulator (Install-PSResource Kodo, Kodo.Emulator).
$ErrorActionPreference = 'Stop'
$checkout = Join-Path $PSScriptRoot '../powershell/Kodo/Kodo.psd1'
if (Test-Path -LiteralPath $checkout) { Import-Module $checkout } else { Import-Module Kodo }
Get-KodoVersion | Format-List ModuleVersion, NativeVersion, Target

$emulator = Start-KodoEmulator
try {
    $tenant = $emulator.Tenants[0]
    Write-Host "Emulated tenant $($tenant.InitialDomain) ($($tenant.TenantId))"
    Connect-Kodo -Environment Emulator -TenantId $tenant.TenantId -ClientSecretCredential $tenant.BootstrapCredential | Format-List TenantId, IdentityKind, Roles

    Write-Host 'Steps 4-10: the app registration, its service principal and a client secret'
    $app = New-KodoApp -DisplayName 'KODO for Cloud backup'
    Write-Host 'Steps 11-14: every permission of the table, and admin consent'
    $app | Grant-KodoPermissions | Format-Table
    Write-Host 'Since 2026-10: the app on the organization''s Exchange Web Services allow list (KODO reads mail through EWS)'
    $app | Grant-KodoEwsAccess | Format-List Status, AllowedAppIdsAfter, EffectiveBy, EndNotice
    Write-Host 'Steps 15-17 (appinv.aspx, LegacyAuthProtocolsEnabled) are retired: nothing to do there.'

    Write-Host 'What to paste into KODO (Add Microsoft 365 organization):'
    [pscustomobject]@{
        'Tenant ID'     = $app.TenantId
        'Client ID'     = $app.ClientId
        'Client secret' = '(emulator) ' + [System.Net.NetworkCredential]::new('', $app.ClientSecret).Password.Substring(0, 3) + '...'
    } | Format-List

    Write-Host 'Running it again changes nothing:'
    $again = New-KodoApp -DisplayName 'KODO for Cloud backup'
    $rows = $again | Grant-KodoPermissions
    $rows | Group-Object Status | Format-Table Count, Name
    ($again | Grant-KodoEwsAccess).Status
} finally {
    Stop-KodoEmulator
}
