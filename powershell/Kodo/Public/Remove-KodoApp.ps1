function Remove-KodoApp {
    <#
    .SYNOPSIS
    Removes the KODO app: its delegated grants, its service principal (with its app role assignments) and the app registration.

    .DESCRIPTION
    Offboards a tenant. Revokes the app's tenant-wide delegated permission grants, deletes its
    service principal (which removes its app role assignments), then deletes the app
    registration (Entra keeps it in deleted items for 30 days). KODO for Cloud loses access.

    ConfirmImpact is High: PowerShell asks before each step unless -Force or -Confirm:$false
    is given (runbooks: -Force). -WhatIf shows the steps and changes nothing. Running it again
    after a removal changes nothing and says so.

    .PARAMETER InputObject
    A Kodo.App (from New-KodoApp) to remove.

    .PARAMETER AppId
    The Application (client) ID of the app to remove.

    .PARAMETER Force
    Do not ask for confirmation (for runbooks).

    .EXAMPLE
    Remove-KodoApp -AppId 11111111-2222-3333-4444-555555555555

    Asks for confirmation, then removes the app, its service principal and its grants.

    .EXAMPLE
    Remove-KodoApp -AppId $clientId -Force

    Removes it without asking (a runbook).

    .EXAMPLE
    Remove-KodoApp -AppId $clientId -WhatIf

    Shows what would be removed.
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High', DefaultParameterSetName = 'AppId')]
    [OutputType([void])]
    param(
        [Parameter(Mandatory, ValueFromPipeline, ParameterSetName = 'InputObject')]
        [PSTypeName('Kodo.App')]
        $InputObject,

        [Parameter(Mandatory, Position = 0, ParameterSetName = 'AppId')]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$AppId,

        [switch]$Force
    )

    process {
        try {
            if ($Force -and -not $PSBoundParameters.ContainsKey('Confirm')) { $ConfirmPreference = 'None' }
            $id = if ($InputObject) { [string]$InputObject.ClientId } else { $AppId }
            $null = Invoke-KodoPlannedChange -Cmdlet $PSCmdlet -Request ([ordered]@{ kind = 'app.remove'; appId = $id }) -NothingToDo "No app with appId $id exists: nothing to remove."
        } catch {
            $PSCmdlet.ThrowTerminatingError($_)
        }
    }
}
