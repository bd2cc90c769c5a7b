function Remove-KodoAppCredential {
    <#
    .SYNOPSIS
    Removes client secrets or certificates from the KODO app, by key id.

    .DESCRIPTION
    Removes each credential named by -KeyId (a secret through removePassword, a certificate by
    re-sending the app's keyCredentials without it). A key id the app does not have is reported
    as a warning and changes nothing, so a re-run is safe. ConfirmImpact is High: use -Force in
    runbooks. Supports -WhatIf.

    .PARAMETER AppId
    The Application (client) ID of the app.

    .PARAMETER KeyId
    The key ids of the credentials to remove (SecretKeyId of a Kodo.App, or keyId in Entra).

    .PARAMETER Force
    Do not ask for confirmation (for runbooks).

    .EXAMPLE
    Remove-KodoAppCredential -AppId $clientId -KeyId $old.SecretKeyId -Force

    Removes an old secret after KODO was switched to the new one.
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, Position = 0)]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$AppId,

        [Parameter(Mandatory)]
        [ValidateNotNullOrEmpty()]
        [string[]]$KeyId,

        [switch]$Force
    )

    try {
        if ($Force -and -not $PSBoundParameters.ContainsKey('Confirm')) { $ConfirmPreference = 'None' }
        $null = Invoke-KodoPlannedChange -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'app.credential.remove'; appId = $AppId; keyIds = @($KeyId) }) -NothingToDo 'No credential to remove.'
    } catch {
        $PSCmdlet.ThrowTerminatingError($_)
    }
}
