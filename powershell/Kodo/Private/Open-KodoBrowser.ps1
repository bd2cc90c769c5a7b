function Open-KodoBrowser {
    <#
    .SYNOPSIS
    Opens the system browser at a sign-in address; says so when it cannot.

    .DESCRIPTION
    PLATFORM SEAM: Windows opens the address with the shell (the default browser); macOS with
    `open`; Linux and other Unix with `xdg-open`, found on PATH. The address carries no secret
    (a PKCE challenge and a random state only). A browser that does not open is not an error:
    the prompt already shows the address to open by hand.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param([Parameter(Mandatory)][string]$Url)

    try {
        if ([Environment]::OSVersion.Platform -eq [PlatformID]::Win32NT) {
            $info = New-Object -TypeName System.Diagnostics.ProcessStartInfo -ArgumentList @($Url)
            $info.UseShellExecute = $true
        } else {
            $opener = 'xdg-open'
            if ([System.Runtime.InteropServices.RuntimeInformation]::IsOSPlatform([System.Runtime.InteropServices.OSPlatform]::OSX)) { $opener = 'open' }
            $command = Get-Command -Name $opener -CommandType Application -ErrorAction Ignore | Select-Object -First 1
            if (-not $command) {
                Write-Verbose "No '$opener' on PATH to open the browser with."
                return $false
            }
            # The address is percent-encoded (no space or quote), so one quoted argument is exact.
            if ($Url -match '[\s"]') { return $false }
            $info = New-Object -TypeName System.Diagnostics.ProcessStartInfo -ArgumentList @($command.Source, ('"' + $Url + '"'))
            $info.UseShellExecute = $false
            $info.RedirectStandardOutput = $true
            $info.RedirectStandardError = $true
        }
        $process = [System.Diagnostics.Process]::Start($info)
        if ($process) { $process.Dispose() }
        $true
    } catch {
        Write-Verbose "The browser did not open: $($_.Exception.Message)"
        $false
    }
}
