function Resolve-KodoConsentLedger {
    <#
    .SYNOPSIS
    The full path of a consent ledger (-LedgerPath of New-KodoConsentLink, Test-KodoConsent) once ShouldProcess allows writing it for this tenant; $null otherwise (no -LedgerPath, -WhatIf, or a declined -Confirm).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet,
        [string]$LedgerPath,
        [Parameter(Mandatory)][string]$TenantId,
        [Parameter(Mandatory)][string]$Action
    )
    if (-not $LedgerPath) { return $null }
    $file = $Cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($LedgerPath)
    if (-not $Cmdlet.ShouldProcess("ledger $file", "$Action for tenant $TenantId")) { return $null }
    $file
}
