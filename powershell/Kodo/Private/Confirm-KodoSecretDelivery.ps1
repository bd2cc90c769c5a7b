function Confirm-KodoSecretDelivery {
    <#
    .SYNOPSIS
    Tells Kodo that a new client secret has reached the admin, so that its mark on the app goes.

    .DESCRIPTION
    Kodo marks the app before it makes a secret; a re-run that finds the mark replaces the secret
    (an interrupted run made it and nobody holds it). Call this after the result that carries the
    secret has been written to the pipeline: Confirmation is the result's confirmSecret. Failing
    to confirm is a warning, never an error: the secret has been handed over, and the next run
    replaces it.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet,
        $Confirmation
    )
    if ($null -eq $Confirmation -or -not $Confirmation.PSObject.Properties['appObjectId']) { return }
    $request = [ordered]@{ kind = 'app.secret.confirm'; appObjectId = [string]$Confirmation.appObjectId; tags = @(foreach ($t in $Confirmation.tags) { [string]$t }) }
    if ($Confirmation.PSObject.Properties['nonce'] -and $Confirmation.nonce) { $request['nonce'] = [string]$Confirmation.nonce }
    if ($Confirmation.PSObject.Properties['marks']) { $request['marks'] = @(foreach ($m in $Confirmation.marks) { [string]$m }) }
    try {
        $r = Invoke-KodoNative -Cmdlet $Cmdlet -Request $request
        if ($r -and $r.PSObject.Properties['replaced'] -and $r.replaced) {
            # Another run found the mark before it was cleared, took the secret for an orphan and
            # replaced it: the one just handed out no longer works.
            $Cmdlet.WriteWarning('Another Kodo run onboarding this tenant at the same time replaced the client secret this run handed out: that secret no longer works. Use the secret the other run reported, or run Invoke-KodoOnboarding again with no other run going on.')
        }
    } catch {
        Write-Warning -Message "Kodo could not record that the new client secret was delivered ($($_.Exception.Message)); the next run replaces that secret."
    }
}
