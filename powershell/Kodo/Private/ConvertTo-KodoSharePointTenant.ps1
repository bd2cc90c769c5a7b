function ConvertTo-KodoSharePointTenant {
    <#
    .SYNOPSIS
    The Kodo.SharePointTenant object from a native spo.tenant result.
    #>
    [CmdletBinding()]
    [OutputType('Kodo.SharePointTenant')]
    param([Parameter(Mandatory)]$Result)
    [pscustomobject]@{
        PSTypeName                 = 'Kodo.SharePointTenant'
        LegacyAuthProtocolsEnabled = [bool]$Result.legacyAuthProtocolsEnabled
        Changed                    = [bool]$Result.changed
        Route                      = [string]$Result.route
        SharePointHost             = [string]$Result.sharePointHost
        AdminHost                  = [string]$Result.adminHost
    }
}
