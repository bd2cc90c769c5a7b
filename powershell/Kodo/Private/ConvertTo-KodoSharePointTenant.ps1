function ConvertTo-KodoSharePointTenant {
    <#
    .SYNOPSIS
    The Kodo.SharePointTenant object from a native spo.tenant result.
    #>
    [CmdletBinding()]
    [OutputType('Kodo.SharePointTenant')]
    param([Parameter(Mandatory)]$Result)
    # Invoke-KodoOnboarding's Graph route does not look the hosts up: they may be absent.
    $hosts = @{}
    foreach ($name in 'sharePointHost', 'adminHost') {
        $p = $Result.PSObject.Properties[$name]
        $hosts[$name] = if ($p) { [string]$p.Value } else { $null }
    }
    [pscustomobject]@{
        PSTypeName                 = 'Kodo.SharePointTenant'
        LegacyAuthProtocolsEnabled = [bool]$Result.legacyAuthProtocolsEnabled
        Changed                    = [bool]$Result.changed
        Route                      = [string]$Result.route
        SharePointHost             = $hosts['sharePointHost']
        AdminHost                  = $hosts['adminHost']
    }
}
