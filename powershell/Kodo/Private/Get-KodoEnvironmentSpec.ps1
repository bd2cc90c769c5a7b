function Get-KodoEnvironmentSpec {
    <#
    .SYNOPSIS
    The native 'environment' of a sign-in: a cloud's name, or the running emulator's address and CA.
    #>
    [CmdletBinding()]
    [OutputType([System.Collections.Specialized.OrderedDictionary])]
    param([Parameter(Mandatory)][string]$Environment)

    if ($Environment -ne 'Emulator') { return [ordered]@{ name = $Environment } }
    $emulator = Get-KodoEmulatorEndpoint
    [ordered]@{
        name             = 'Emulator'
        base             = 'Global'
        caCertificatePem = [System.IO.File]::ReadAllText($emulator.CaCertificate)
        resolveTo        = $emulator.Address
    }
}
