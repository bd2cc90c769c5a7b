function Start-KodoEmulator {
    <#
    .SYNOPSIS
    Starts Kodo's local tenant emulator (Entra ID, Microsoft Graph, SharePoint) for trying Kodo without a tenant.

    .DESCRIPTION
    Starts the kodo-emulator program, on loopback HTTPS with a CA it generates, and returns a Kodo.Emulator object: its URL, CA certificate, and for each emulated
    tenant the tenant id, initial domain and a bootstrap app credential (a PSCredential whose user
    name is the client id) that stands in for the admin. Afterwards, Connect-Kodo -Environment
    Emulator signs in against it; nothing is sent to Microsoft. The emulator is stopped by
    Stop-KodoEmulator, by removing the module, or when PowerShell exits.

    The program is not part of the Kodo module: it comes with the Kodo.Emulator module
    (Install-PSResource Kodo.Emulator; in a source checkout, pwsh ./build.ps1 lays it in
    powershell/Kodo.Emulator). It is looked for in KODO_EMULATOR_PATH when that is set, then in
    the Kodo.Emulator module beside this one, then in the installed Kodo.Emulator modules. When
    it is in none of them the error is Kodo.EmulatorNotInstalled and says how to get it.

    .PARAMETER Tenants
    How many tenants to emulate (1 to 10000).

    .PARAMETER ReplicationLagMs
    New directory objects stay invisible to reads for this many milliseconds, as Entra's
    replication delay does.

    .PARAMETER ThrottleRate
    The fraction (0 to 1) of Microsoft Graph requests answered with 429 and Retry-After.

    .PARAMETER LatencyMs
    Milliseconds added to every response.

    .PARAMETER DirectorySize
    Every tenant holds exactly this many users, groups, applications and service principals:
    its seeded objects made up by generated ones ("User 00001", "Group 00001", "Line-of-business
    app 00001"), the same on every run, so that lists page as in a large real directory. 0 (the
    default) keeps the small seeded directory.

    .PARAMETER ClockOffsetMs
    How far the emulated services' clock is ahead of this machine's, in milliseconds (negative:
    behind; up to a day either way), as an admin's machine may be off Microsoft's clock: every
    time the emulator stamps (createdDateTime, a secret's start) or checks (token and secret
    lifetimes), and its Date header.

    .PARAMETER AutoApproveDeviceCodes
    Device-code sign-ins succeed without anyone approving them.

    .PARAMETER Proxy
    Also start the emulator's HTTP proxy, which sends Microsoft's production hostnames to it.

    .EXAMPLE
    $emu = Start-KodoEmulator
    Connect-Kodo -Environment Emulator -TenantId $emu.Tenants[0].TenantId -ClientSecretCredential $emu.Tenants[0].BootstrapCredential

    Starts an emulated tenant and signs in to it as its bootstrap admin app.

    .EXAMPLE
    Start-KodoEmulator -Tenants 3 -ReplicationLagMs 5000 -ThrottleRate 0.2

    Three tenants whose directory lags and throttles like a busy real one.

    .EXAMPLE
    Start-KodoEmulator -DirectorySize 20000

    One tenant of 20 000 users, groups, applications and service principals.

    .OUTPUTS
    Kodo.Emulator
    #>
    [CmdletBinding()]
    [OutputType('Kodo.Emulator')]
    param(
        [ValidateRange(1, 10000)][int]$Tenants = 1,
        [ValidateRange(0, 600000)][int]$ReplicationLagMs = 0,
        [ValidateRange(0.0, 1.0)][double]$ThrottleRate = 0.0,
        [ValidateRange(0, 60000)][int]$LatencyMs = 0,
        [ValidateRange(0, 100000)][int]$DirectorySize = 0,
        [ValidateRange(-86400000, 86400000)][int]$ClockOffsetMs = 0,
        [switch]$AutoApproveDeviceCodes,
        [switch]$Proxy
    )

    try {
        if ($script:KodoEmulator -and -not $script:KodoEmulator.Process.HasExited) {
            $PSCmdlet.ThrowTerminatingError((New-KodoErrorRecord -ErrorId 'Kodo.EmulatorAlreadyRunning' -Category ResourceExists `
                -Message "An emulator started by this session is already running at $($script:KodoEmulator.Url). Run Stop-KodoEmulator first." -TargetObject $script:KodoEmulator.Url))
        }
        $path = Find-KodoEmulatorProgram
        $stateDir = [System.IO.Path]::Combine([System.IO.Path]::GetTempPath(), 'kodo-emulator-' + [guid]::NewGuid().ToString('N'))
        $arguments = @('--listen', '127.0.0.1:0', '--tenants', $Tenants, '--replication-lag-ms', $ReplicationLagMs,
            '--throttle-rate', $ThrottleRate.ToString([Globalization.CultureInfo]::InvariantCulture), '--latency-ms', $LatencyMs, '--state-dir', $stateDir)
        if ($DirectorySize -gt 0) { $arguments += @('--directory-size', $DirectorySize) }
        if ($ClockOffsetMs -ne 0) { $arguments += "--clock-offset-ms=$ClockOffsetMs" }
        if ($AutoApproveDeviceCodes) { $arguments += '--auto-approve-device-codes' }
        if ($Proxy) { $arguments += @('--proxy-listen', '127.0.0.1:0') }
        $psi = New-Object -TypeName System.Diagnostics.ProcessStartInfo
        $psi.FileName = $path
        # One quoted string: ProcessStartInfo.ArgumentList does not exist in Windows PowerShell 5.1.
        $psi.Arguments = ($arguments | ForEach-Object { '"' + ([string]$_).Replace('"', '') + '"' }) -join ' '
        $psi.RedirectStandardOutput = $true
        $psi.UseShellExecute = $false
        $psi.CreateNoWindow = $true
        $process = [System.Diagnostics.Process]::Start($psi)
        $read = $process.StandardOutput.ReadLineAsync()
        if (-not $read.Wait(60000) -or [string]::IsNullOrEmpty($read.Result)) {
            if (-not $process.HasExited) { $process.Kill() }
            $PSCmdlet.ThrowTerminatingError((New-KodoErrorRecord -ErrorId 'Kodo.EmulatorStartFailed' -Category ResourceUnavailable -TargetObject $path `
                -Message "The emulator did not start (exit code: $(if ($process.HasExited) { $process.ExitCode } else { 'none' }))."))
        }
        $info = ConvertFrom-Json -InputObject $read.Result
        $tenantObjects = foreach ($t in $info.tenants) {
            $secret = New-Object -TypeName System.Security.SecureString
            foreach ($c in ([string]$t.bootstrapClientSecret).ToCharArray()) { $secret.AppendChar($c) }
            $secret.MakeReadOnly()
            [pscustomobject]@{
                PSTypeName                = 'Kodo.EmulatorTenant'
                TenantId                  = [string]$t.tenantId
                InitialDomain             = [string]$t.initialDomain
                BootstrapClientId         = [string]$t.bootstrapClientId
                BootstrapCredential       = New-Object -TypeName System.Management.Automation.PSCredential -ArgumentList @([string]$t.bootstrapClientId, $secret)
                BootstrapCertificatePath  = [string]$t.bootstrapCertificate
                BootstrapCertificateThumbprint = [string]$t.bootstrapCertificateThumbprint
                ManagedIdentityClientId   = [string]$t.managedIdentityClientId
                SharePointHost            = [string]$t.sharePointHost
                SharePointAdminHost       = [string]$t.sharePointAdminHost
            }
        }
        $emulator = [pscustomobject]@{
            PSTypeName       = 'Kodo.Emulator'
            Url              = [string]$info.url
            CaCertificate    = [string]$info.caCertificate
            Proxy            = $(if ($info.PSObject.Properties['proxy']) { [string]$info.proxy } else { $null })
            IdentityEndpoint = [string]$info.identityEndpoint
            IdentityHeader   = [string]$info.identityHeader
            Tenants          = @($tenantObjects)
            ProcessId        = $process.Id
            StateDirectory   = $stateDir
            Process          = $process
        }
        $script:KodoEmulator = $emulator
        $emulator
    } catch {
        $PSCmdlet.ThrowTerminatingError($_)
    }
}
