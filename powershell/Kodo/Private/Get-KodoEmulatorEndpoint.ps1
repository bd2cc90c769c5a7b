function Get-KodoEmulatorEndpoint {
    <#
    .SYNOPSIS
    Where the tenant emulator listens and its CA: from Start-KodoEmulator, or KODO_EMULATOR.
    .DESCRIPTION
    KODO_EMULATOR may name a file holding the emulator's first stdout line (for an emulator
    started outside this session, e.g. by a test harness or a runbook CI).
    #>
    [CmdletBinding()]
    param()

    $info = $null
    if ($script:KodoEmulator -and -not $script:KodoEmulator.Process.HasExited) {
        $info = [pscustomobject]@{ url = $script:KodoEmulator.Url; caCertificate = $script:KodoEmulator.CaCertificate }
    } else {
        $file = [Environment]::GetEnvironmentVariable('KODO_EMULATOR')
        if ($file -and [System.IO.File]::Exists($file)) { $info = ConvertFrom-Json -InputObject ([System.IO.File]::ReadAllText($file)) }
    }
    if (-not $info) {
        throw (New-KodoErrorRecord -ErrorId 'Kodo.EmulatorNotRunning' -Category ResourceUnavailable -TargetObject 'Emulator' `
            -Message 'No tenant emulator is running: run Start-KodoEmulator first (or set KODO_EMULATOR to a file holding its first output line).')
    }
    $uri = [Uri][string]$info.url
    [pscustomobject]@{ Address = '{0}:{1}' -f $uri.Host, $uri.Port; CaCertificate = [string]$info.caCertificate; Url = [string]$info.url }
}
