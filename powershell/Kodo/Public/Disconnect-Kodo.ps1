function Disconnect-Kodo {
    <#
    .SYNOPSIS
    Signs out: forgets the connection and every cached token.

    .DESCRIPTION
    Drops the tokens, the refresh token and the certificate Kodo held for signing. Nothing
    changes in the tenant. Does nothing when not connected.

    .EXAMPLE
    Disconnect-Kodo

    Signs out.
    #>
    [CmdletBinding()]
    [OutputType([void])]
    param()

    try {
        $result = Invoke-KodoNative -Cmdlet $PSCmdlet -Request @{ kind = 'disconnect' }
        $script:KodoSigningCertificate = $null
        if ($result.disconnected) { Write-Verbose "Disconnected from tenant $($result.tenantId)." } else { Write-Verbose 'Not connected.' }
    } catch {
        $PSCmdlet.ThrowTerminatingError($_)
    }
}
