function New-KodoConsentLink {
    <#
    .SYNOPSIS
    Makes the admin consent link a customer tenant's administrator opens to consent to the provider's multi-tenant KODO app.

    .DESCRIPTION
    For a service provider with one multi-tenant KODO app (New-KodoApp -MultiTenant): builds, for
    each customer tenant, the Microsoft identity platform admin consent URL
    ({login}/{tenant}/v2.0/adminconsent) with the app's client id, the static scope
    https://graph.microsoft.com/.default (it asks for every permission the app declares), the
    redirect URI and a fresh, unguessable state (256 random bits). The customer's administrator
    opens it, signs in and accepts; Entra then creates the app's service principal in the customer
    tenant, grants the declared permissions, and redirects to the redirect URI with
    admin_consent=True, the tenant and the same state. Check the result with Test-KodoConsent.

    Changes nothing in any tenant and holds nothing secret: the returned Kodo.ConsentLink records
    the tenant, the state and when it was made, so the redirect can be matched to the link. With
    -LedgerPath the link is also tracked in a consent ledger (the bulk ledger's format; read it
    with Get-KodoOnboardingStatus): the tenant is planned, status LinkCreated, until
    Test-KodoConsent -LedgerPath records its consent. -WhatIf makes the link and records nothing.
    Needs a connection (Connect-Kodo to the provider's tenant) only for the cloud's endpoints.

    .PARAMETER AppId
    The Application (client) ID of the multi-tenant app.

    .PARAMETER TenantId
    The customer tenant(s): tenant ids (GUID) or domains such as contoso.onmicrosoft.com.

    .PARAMETER RedirectUri
    Where the consent returns to: one of the app's registered redirect URIs (New-KodoApp
    -ConsentRedirectUri).

    .PARAMETER LedgerPath
    A consent ledger (JSON Lines, created when missing) to track the link in. Keep it apart from
    Invoke-KodoOnboarding's ledgers: a tenant Ready here is done there too.

    .EXAMPLE
    New-KodoConsentLink -AppId $app.ClientId -TenantId 'contoso.onmicrosoft.com' -RedirectUri 'https://partner.example/kodo/consented'

    One link to send to Contoso's administrator.

    .EXAMPLE
    Get-Content ./customers.txt | New-KodoConsentLink -AppId $app.ClientId -RedirectUri $uri | Export-Csv ./consent-links.csv -NoTypeInformation

    A link per customer, with the state to match each redirect against.

    .EXAMPLE
    Get-Content ./customers.txt | New-KodoConsentLink -AppId $app.ClientId -RedirectUri $uri -LedgerPath ./consents.jsonl

    The same, each customer tracked in ./consents.jsonl (Get-KodoOnboardingStatus -LedgerPath ./consents.jsonl).

    .OUTPUTS
    Kodo.ConsentLink
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Low')]
    [OutputType('Kodo.ConsentLink')]
    param(
        [Parameter(Mandatory)]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$AppId,

        [Parameter(Mandatory, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [ValidateNotNullOrEmpty()]
        [string[]]$TenantId,

        [Parameter(Mandatory)]
        [ValidateNotNullOrEmpty()]
        [string]$RedirectUri,

        [ValidateNotNullOrEmpty()]
        [string]$LedgerPath
    )

    process {
        foreach ($tenant in $TenantId) {
            try {
                $request = [ordered]@{ kind = 'consent.link'; appId = $AppId; tenantId = $tenant; redirectUri = $RedirectUri }
                $ledgerFile = Resolve-KodoConsentLedger -Cmdlet $PSCmdlet -LedgerPath $LedgerPath -TenantId $tenant -Action 'Track the consent link'
                if ($ledgerFile) { $request['ledgerPath'] = $ledgerFile }
                $r = Invoke-KodoNative -Cmdlet $PSCmdlet -Request $request
                [pscustomobject]@{
                    PSTypeName  = 'Kodo.ConsentLink'
                    TenantId    = [string]$r.tenantId
                    AppId       = [string]$r.appId
                    Url         = [string]$r.url
                    RedirectUri = [string]$r.redirectUri
                    State       = [string]$r.state
                    CreatedOn   = [datetime]::Parse([string]$r.createdDateTime, [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::AdjustToUniversal)
                }
            } catch {
                $PSCmdlet.WriteError($_)
            }
        }
    }
}
