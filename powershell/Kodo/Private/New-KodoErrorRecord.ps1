function New-KodoErrorRecord {
    <#
    .SYNOPSIS
    Builds an ErrorRecord with a stable ErrorId and a real category.
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.ErrorRecord])]
    param(
        [Parameter(Mandatory)][string]$ErrorId,
        [Parameter(Mandatory)][string]$Message,
        [System.Management.Automation.ErrorCategory]$Category = [System.Management.Automation.ErrorCategory]::NotSpecified,
        [object]$TargetObject,
        [System.Exception]$InnerException,
        [string]$RecommendedAction
    )

    $exception = New-Object -TypeName System.Exception -ArgumentList @($Message, $InnerException)
    $record = New-Object -TypeName System.Management.Automation.ErrorRecord -ArgumentList @($exception, $ErrorId, $Category, $TargetObject)
    if ($RecommendedAction) {
        $record.ErrorDetails = New-Object -TypeName System.Management.Automation.ErrorDetails -ArgumentList $Message
        $record.ErrorDetails.RecommendedAction = $RecommendedAction
    }
    $record
}
