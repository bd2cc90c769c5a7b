function Update-KodoAppCredential {
    <#
    .SYNOPSIS
    Rotates the KODO app's client secret: adds a new one, returns it, and removes the old ones only when told to.

    .DESCRIPTION
    One-step rotation with no moment without a working credential: the new secret is added
    first and returned; the old secrets keep working until KODO uses the new one. With
    -RemoveOld, the secrets that existed before the rotation are removed after the new one was
    added (do this once KODO has the new secret). Supports -WhatIf and -Confirm.

    .PARAMETER AppId
    The Application (client) ID of the app.

    .PARAMETER Lifetime
    Days the new secret is valid: 1 to 730 (default 730).

    .PARAMETER RemoveOld
    Also remove every secret that existed before this rotation.

    .EXAMPLE
    $new = Update-KodoAppCredential -AppId $clientId

    Adds a new secret and leaves the old ones until you remove them.

    .EXAMPLE
    Update-KodoAppCredential -AppId $clientId -RemoveOld -Confirm:$false

    Rotates and removes the old secrets (a runbook that also updates KODO).

    .OUTPUTS
    Kodo.App
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('Kodo.App')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$AppId,

        [ValidateRange(1, 730)]
        [int]$Lifetime = 730,

        [switch]$RemoveOld
    )

    process {
        try {
            $before = Invoke-KodoNative -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'app.ensure'; displayName = 'Kodo'; appId = $AppId; approval = @{ dryRun = $true } })
            $oldKeys = @($before.app.passwordCredentials | Where-Object { $_ } | ForEach-Object { [string]$_.keyId })
            $new = Add-KodoAppCredential -AppId $AppId -Type Secret -Lifetime $Lifetime
            if (-not $new -or -not $new.ClientSecret) { return }
            if ($RemoveOld -and $oldKeys.Count -gt 0) {
                Remove-KodoAppCredential -AppId $AppId -KeyId $oldKeys -Confirm:$false
            }
            $new
        } catch {
            $PSCmdlet.ThrowTerminatingError($_)
        }
    }
}
