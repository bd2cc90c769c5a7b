# MSAL.NET and the Microsoft Graph .NET SDK, unmodified, against the tenant emulator through its
# proxy (HTTPS_PROXY): tokens by secret, certificate and device code; an application, its service
# principal and an app role assignment; a paged list. See tests/clients/Program.cs.

BeforeDiscovery {
    $checks = @('msal-client-secret', 'msal-wrong-secret-is-AADSTS7000215', 'msal-certificate', 'msal-device-code',
        'graph-sdk-create-application', 'graph-sdk-create-service-principal', 'graph-sdk-assign-app-role',
        'graph-sdk-page-a-list', 'graph-sdk-filter-by-tag')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $clients = Join-Path $script:RepoRoot 'out/realclients/RealClients.dll'
    $emulator = Start-TestEmulator -Arguments @('--proxy-listen', '127.0.0.1:0')
    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = 'dotnet'
    $psi.ArgumentList.Add($clients)
    $psi.ArgumentList.Add($emulator.InfoPath)
    $psi.Environment['HTTPS_PROXY'] = $emulator.Info.proxy
    $psi.Environment['NO_PROXY'] = ''
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.UseShellExecute = $false
    $p = [System.Diagnostics.Process]::Start($psi)
    $stdout = $p.StandardOutput.ReadToEndAsync()
    $stderr = $p.StandardError.ReadToEndAsync()
    $null = $p.WaitForExit(180000)
    $output = $stdout.Result
    $exitCode = $p.ExitCode
    Write-Host $output
    if ($stderr.Result) { Write-Host $stderr.Result }
}

AfterAll {
    Stop-TestEmulator $emulator
}

Describe 'Clients nobody here wrote, against the emulator' {
    It 'all checks ran and passed' {
        $exitCode | Should -Be 0
        $output | Should -Match '(?m)^\d+ passed, 0 failed'
    }
    It '<_> passes' -ForEach $checks {
        $output | Should -Match ("(?m)^PASS " + [regex]::Escape($_) + '\s*$')
    }
}
