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
        [string]$RecommendedAction,
        # The service's request-id and the client-request-id Kodo sent (what Microsoft support
        # asks for): kept in the exception's Data as RequestId and ClientRequestId.
        [string]$RequestId,
        [string]$ClientRequestId
    )

    $exception = New-Object -TypeName System.Exception -ArgumentList @($Message, $InnerException)
    if ($RequestId) { $exception.Data['RequestId'] = $RequestId }
    if ($ClientRequestId) { $exception.Data['ClientRequestId'] = $ClientRequestId }
    $record = New-Object -TypeName System.Management.Automation.ErrorRecord -ArgumentList @($exception, $ErrorId, $Category, $TargetObject)
    if ($RecommendedAction) {
        $record.ErrorDetails = New-Object -TypeName System.Management.Automation.ErrorDetails -ArgumentList $Message
        $record.ErrorDetails.RecommendedAction = $RecommendedAction
    }
    $record
}
