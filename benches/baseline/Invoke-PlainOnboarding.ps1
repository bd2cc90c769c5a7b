<#
.SYNOPSIS
The baseline for benches/onboarding.ps1: KODO's onboarding scripted the way admins script it
today, with plain Invoke-RestMethod calls.

.DESCRIPTION
Sequential, one request per step, no batching, no retries, no idempotency check, as the
scripts in blog posts and forums do it (and as step 4-14 of KODO's portal procedure map to
Graph): a token; one lookup per resource API to translate permission names into ids; create
the app with its requiredResourceAccess; create its service principal; add a secret; one
POST per app role assignment (admin consent for application permissions); one
oauth2PermissionGrant per resource (admin consent for delegated permissions); and the app on
the organization's EWS allow list through Exchange Online's admin API (a token for Exchange,
Get-OrganizationConfig, Set-OrganizationConfig). The retired step 17 (LegacyAuthProtocolsEnabled)
is left out, as Kodo leaves it out.

It does not sleep: many real scripts add fixed Start-Sleep calls for replication, which would
only make the baseline slower. Retired Azure AD Graph rows are skipped, as Kodo skips them.

Returns the app's client id and the number of requests it sent.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string]$BaseUrl,
    [Parameter(Mandatory)][string]$TenantId,
    [Parameter(Mandatory)][System.Management.Automation.PSCredential]$Credential,
    [Parameter(Mandatory)][string]$ManifestPath,
    [string]$DisplayName = 'KODO for Cloud backup (baseline)'
)
$ErrorActionPreference = 'Stop'
$requests = 0
# The emulator's CA is its own: a real tenant would not need -SkipCertificateCheck.
$common = @{ SkipCertificateCheck = $true; ContentType = 'application/json' }

$body = @{ grant_type = 'client_credentials'; client_id = $Credential.UserName; client_secret = $Credential.GetNetworkCredential().Password; scope = 'https://graph.microsoft.com/.default' }
$token = (Invoke-RestMethod -Method Post -Uri "$BaseUrl/$TenantId/oauth2/v2.0/token" -Body $body -SkipCertificateCheck).access_token
$requests++
$headers = @{ Authorization = "Bearer $token" }

$manifest = Get-Content -Raw -LiteralPath $ManifestPath | ConvertFrom-Json
$rows = @($manifest.permissions | Where-Object { -not $_.retired })
# One lookup per resource API: permission names to ids.
$resources = @{}
foreach ($appId in @($rows | ForEach-Object resourceAppId | Sort-Object -Unique)) {
    $sp = (Invoke-RestMethod -Uri "$BaseUrl/v1.0/servicePrincipals?`$filter=appId eq '$appId'" -Headers $headers @common).value[0]
    $requests++
    $resources[$appId] = $sp
}

$rra = @()
foreach ($appId in $resources.Keys) {
    $sp = $resources[$appId]
    $access = @()
    foreach ($row in $rows | Where-Object resourceAppId -eq $appId) {
        if ($row.type -eq 'Application') {
            $id = ($sp.appRoles | Where-Object value -eq $row.permission).id
            $access += @{ id = $id; type = 'Role' }
        } else {
            $id = ($sp.oauth2PermissionScopes | Where-Object value -eq $row.permission).id
            $access += @{ id = $id; type = 'Scope' }
        }
    }
    $rra += @{ resourceAppId = $appId; resourceAccess = @($access | Sort-Object { $_.id } -Unique) }
}

$app = Invoke-RestMethod -Method Post -Uri "$BaseUrl/v1.0/applications" -Headers $headers @common -Body (@{ displayName = $DisplayName; signInAudience = 'AzureADMyOrg'; requiredResourceAccess = $rra } | ConvertTo-Json -Depth 6)
$requests++
$sp = Invoke-RestMethod -Method Post -Uri "$BaseUrl/v1.0/servicePrincipals" -Headers $headers @common -Body (@{ appId = $app.appId } | ConvertTo-Json)
$requests++
$secret = Invoke-RestMethod -Method Post -Uri "$BaseUrl/v1.0/applications/$($app.id)/addPassword" -Headers $headers @common -Body (@{ passwordCredential = @{ displayName = 'KODO' } } | ConvertTo-Json)
$requests++
$secret = $null

# Admin consent, application permissions: one request per role.
foreach ($appId in $resources.Keys) {
    $resource = $resources[$appId]
    $roles = @($rows | Where-Object { $_.resourceAppId -eq $appId -and $_.type -eq 'Application' } | ForEach-Object permission | Sort-Object -Unique)
    foreach ($role in $roles) {
        $roleId = ($resource.appRoles | Where-Object value -eq $role).id
        $null = Invoke-RestMethod -Method Post -Uri "$BaseUrl/v1.0/servicePrincipals/$($sp.id)/appRoleAssignments" -Headers $headers @common `
            -Body (@{ principalId = $sp.id; resourceId = $resource.id; appRoleId = $roleId } | ConvertTo-Json)
        $requests++
    }
    # Admin consent, delegated permissions: one grant per resource.
    $scopes = @($rows | Where-Object { $_.resourceAppId -eq $appId -and $_.type -eq 'Delegated' } | ForEach-Object permission | Sort-Object -Unique)
    if ($scopes) {
        $null = Invoke-RestMethod -Method Post -Uri "$BaseUrl/v1.0/oauth2PermissionGrants" -Headers $headers @common `
            -Body (@{ clientId = $sp.id; consentType = 'AllPrincipals'; resourceId = $resource.id; scope = ($scopes -join ' ') } | ConvertTo-Json)
        $requests++
    }
}

# The EWS allow list (since 2026-10): read the organization's list, write it back with the app.
$body = @{ grant_type = 'client_credentials'; client_id = $Credential.UserName; client_secret = $Credential.GetNetworkCredential().Password; scope = 'https://outlook.office365.com/.default' }
$exchangeToken = (Invoke-RestMethod -Method Post -Uri "$BaseUrl/$TenantId/oauth2/v2.0/token" -Body $body -SkipCertificateCheck).access_token
$requests++
$exchange = @{ Authorization = "Bearer $exchangeToken"; 'X-AnchorMailbox' = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@$TenantId" }
$invoke = "$BaseUrl/adminapi/beta/$TenantId/InvokeCommand"
$org = (Invoke-RestMethod -Method Post -Uri $invoke -Headers $exchange @common -Body (@{ CmdletInput = @{ CmdletName = 'Get-OrganizationConfig'; Parameters = @{ RetrieveEwsOperationAccessPolicy = $true } } } | ConvertTo-Json -Depth 4)).value[0]
$requests++
$allowed = @(([string]$org.EwsAllowedAppIDs) -split ',' | Where-Object { $_ }) + $app.appId
$null = Invoke-RestMethod -Method Post -Uri $invoke -Headers $exchange @common -Body (@{ CmdletInput = @{ CmdletName = 'Set-OrganizationConfig'; Parameters = @{ EwsAllowedAppIDs = ($allowed -join ',') } } } | ConvertTo-Json -Depth 4)
$requests++

[pscustomobject]@{ ClientId = $app.appId; Requests = $requests }
