function Invoke-KodoPlannedChange {
    <#
    .SYNOPSIS
    Plan, approve, apply: the -WhatIf/-Confirm pattern of every Kodo command that changes a tenant.
    .DESCRIPTION
    Sends the request with dryRun to get the plan (each change with an id, an action and a
    target), asks the public command's ShouldProcess for each change, then sends the request
    again with the approved ids. Returns Result (the applied result, or the plan's when nothing
    was to be done or nothing was approved), Approved (ids) and Planned (count).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet,
        [Parameter(Mandatory)][System.Collections.IDictionary]$Request,
        [Parameter(Mandatory)][string]$NothingToDo
    )

    $plan = Invoke-KodoNative -Cmdlet $Cmdlet -Request ($Request + @{ dryRun = $true })
    $steps = @($plan.plan | Where-Object { $_ })
    $approved = @()
    foreach ($step in $steps) {
        if ($Cmdlet.ShouldProcess([string]$step.target, [string]$step.action)) { $approved += [string]$step.id }
    }
    $result = $plan
    if ($steps.Count -eq 0) {
        $Cmdlet.WriteVerbose($NothingToDo)
    } elseif ($approved.Count -gt 0) {
        $apply = [ordered]@{}
        foreach ($key in $Request.Keys) { $apply[$key] = $Request[$key] }
        $apply['approved'] = $approved
        $result = Invoke-KodoNative -Cmdlet $Cmdlet -Request $apply
    }
    [pscustomobject]@{ Result = $result; Approved = $approved; Planned = $steps.Count }
}
