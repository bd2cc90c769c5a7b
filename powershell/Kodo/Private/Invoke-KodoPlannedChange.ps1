function Invoke-KodoPlannedChange {
    <#
    .SYNOPSIS
    Plan, approve, apply: the -WhatIf/-Confirm pattern of every Kodo command that changes a tenant.
    .DESCRIPTION
    Sends the request with approval { ask }: the native operation reads, plans (each change with an
    id, an action and a target) and asks the host to approve; Invoke-KodoNative asks the public
    command's ShouldProcess for each change and answers with the approved ids; the operation
    carries those out. Returns Result (the applied result, or the plan's when nothing was to be
    done or nothing was approved), Approved (ids) and Planned (count).
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)][System.Management.Automation.PSCmdlet]$Cmdlet,
        [Parameter(Mandatory)][System.Collections.IDictionary]$Request,
        [Parameter(Mandatory)][string]$NothingToDo
    )

    # One operation: it reads, plans, asks for approval (an 'approve' prompt that
    # Invoke-KodoNative answers with the cmdlet's ShouldProcess per step), then carries out the
    # approved steps. Nothing is read twice. The result says what was planned and approved.
    $ask = [ordered]@{}
    foreach ($key in $Request.Keys) { $ask[$key] = $Request[$key] }
    $ask['approval'] = [ordered]@{ ask = $true }
    $result = Invoke-KodoNative -Cmdlet $Cmdlet -Request $ask
    $planned = @($result.plan | Where-Object { $_ }).Count
    $approved = @($result.approved | Where-Object { $_ } | ForEach-Object { [string]$_ })
    if ($planned -eq 0) { Write-Verbose -Message $NothingToDo }
    [pscustomobject]@{ Result = $result; Approved = $approved; Planned = $planned }
}
