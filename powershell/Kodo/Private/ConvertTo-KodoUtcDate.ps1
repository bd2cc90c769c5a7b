function ConvertTo-KodoUtcDate {
    <#
    .SYNOPSIS
    A time from the library (ISO-8601, UTC) as a UTC DateTime: PowerShell 7's ConvertFrom-Json has already made it a DateTime, Windows PowerShell's leaves it a string.
    #>
    [CmdletBinding()]
    [OutputType([datetime])]
    param([Parameter(Position = 0)][AllowNull()]$Value)

    if ($null -eq $Value -or '' -eq $Value) { return $null }
    if ($Value -is [datetime]) { return $Value.ToUniversalTime() }
    [datetime]::Parse([string]$Value, [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::AdjustToUniversal -bor [Globalization.DateTimeStyles]::AssumeUniversal)
}
