function ConvertFrom-KodoSecureString {
    <#
    .SYNOPSIS
    The plain text of a SecureString, only to put it into a native request (never output).
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory)][System.Security.SecureString]$SecureString)
    (New-Object -TypeName System.Net.NetworkCredential -ArgumentList @('', $SecureString)).Password
}
