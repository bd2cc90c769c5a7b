function Stop-KodoEmulator {
    <#
    .SYNOPSIS
    Stops the tenant emulator that Start-KodoEmulator started in this session.

    .DESCRIPTION
    Ends the kodo-emulator process and deletes its temporary folder (CA and bootstrap
    certificates). A connection to the emulator (Connect-Kodo -Environment Emulator) is
    disconnected as well. Does nothing when no emulator is running.

    .EXAMPLE
    Stop-KodoEmulator

    Stops the emulator.
    #>
    [CmdletBinding()]
    [OutputType([void])]
    param()

    $emulator = $script:KodoEmulator
    if (-not $emulator) {
        Write-Verbose 'No emulator is running in this session.'
        return
    }
    $script:KodoEmulator = $null
    try {
        $context = Get-KodoContext
        if ($context -and $context.Environment -eq 'Emulator') { Disconnect-Kodo }
    } catch {
        Write-Verbose "Could not disconnect: $($_.Exception.Message)"
    }
    if (-not $emulator.Process.HasExited) {
        $emulator.Process.Kill()
        $null = $emulator.Process.WaitForExit(10000)
    }
    Remove-Item -LiteralPath $emulator.StateDirectory -Recurse -Force -ErrorAction SilentlyContinue
    Write-Verbose "Stopped the emulator at $($emulator.Url)."
}
