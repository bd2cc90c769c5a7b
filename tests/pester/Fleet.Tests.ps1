# The parent/child runbooks (examples/runbooks/Start-KodoFleet.ps1 and Invoke-KodoFleetBatch.ps1)
# against the emulator: the parent runs in this process with Azure Automation's job cmdlets stood
# in for (Start-AzAutomationRunbook starts the child runbook in a pwsh of its own,
# Get-AzAutomationJob watches that process); each child has Get-AutomationPSCredential stood in
# for and a stand-in SecretManagement vault on disk. The fleet's ledger must end complete: every
# tenant done, one app each, its one secret in the vault; a tenant that fails in the first round
# is retried once; a second run of the parent starts no job.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'Convergence.ps1')
    Import-Module $script:ManifestPath -Force
    # 12 tenants in 3 child jobs of 4 (CI); KODO_FLEET_TENANTS=N runs N tenants in 3 jobs too.
    $script:n = if ($env:KODO_FLEET_TENANTS) { [int]$env:KODO_FLEET_TENANTS } else { 12 }
    $script:batch = [int][math]::Ceiling($script:n / 3)
    $script:firstJobs = [int][math]::Ceiling($script:n / $script:batch)
    # The fleet of the first tests, and four more tenants for a fleet given certificates.
    $emu = Start-KodoEmulator -Tenants ($script:n + 4)
    $script:fleet = @($emu.Tenants[0..($script:n - 1)])
    $script:certFleet = @($emu.Tenants[$script:n..($script:n + 3)])
    $work = Join-Path ([System.IO.Path]::GetTempPath()) ('kodo-fleet-' + [guid]::NewGuid().ToString('N'))
    $null = New-Item -ItemType Directory -Path $work
    $script:vaultDir = Join-Path $work 'vaults'
    $null = New-Item -ItemType Directory -Path $script:vaultDir
    $endpointFile = Join-Path $work 'emulator.json'
    Set-Content -LiteralPath $endpointFile -Value (@{ url = $emu.Url; caCertificate = $emu.CaCertificate } | ConvertTo-Json)
    $modulePath = (Split-Path $script:ModuleDir) + [System.IO.Path]::PathSeparator + $env:PSModulePath
    # The parent runs here, importing Kodo by name as Automation does.
    $script:savedModulePath = $env:PSModulePath
    $env:PSModulePath = $modulePath
    $standIn = Join-Path $PSScriptRoot 'tools/SecretManagementStandIn/SecretManagementStandIn.psm1'
    $env:KODO_TEST_VAULT_DIR = $script:vaultDir
    Import-Module $standIn -Force
    Register-TestSecretVault -Name 'Fleet'
    # The Automation credential assets: one per tenant ("KodoApp-<TenantId>": the emulator has no
    # app that signs in to many tenants). The fourth tenant's is wrong the first time it is read.
    $assets = @{}
    foreach ($t in $emu.Tenants) { $assets["KodoApp-$($t.TenantId)"] = @{ user = $t.BootstrapCredential.UserName; password = $t.BootstrapCredential.GetNetworkCredential().Password } }
    # The PFX password of the certificate fleet (a credential asset; its user name is not used).
    $script:pfxSecret = 'Fleet-Pfx-Passw0rd!'
    $assets['KodoPfx'] = @{ user = 'pfx'; password = $script:pfxSecret }
    $script:assetFile = Join-Path $work 'assets.json'
    Set-Content -LiteralPath $script:assetFile -Value ($assets | ConvertTo-Json)
    $script:flaky = $emu.Tenants[3].TenantId
    $script:jobs = @{}
    $script:outputs = New-Object System.Collections.Generic.List[string]

    # Azure Automation's job cmdlets, stood in for: a job is a pwsh process running the child
    # runbook with the parameters given (as Automation passes them), Get-AutomationPSCredential
    # reading the assets, and the stand-in vault module imported.
    function Start-AzAutomationRunbook {
        param([Parameter(Mandatory)][string]$Name, [System.Collections.IDictionary]$Parameters, [string]$RunOn,
            [Parameter(Mandatory)][string]$ResourceGroupName, [Parameter(Mandatory)][string]$AutomationAccountName)
        $Name | Should -Be 'Invoke-KodoFleetBatch'
        $runbook = Join-Path $script:RepoRoot "examples/runbooks/$Name.ps1"
        $id = [guid]::NewGuid()
        $splat = ($Parameters.Keys | ForEach-Object {
                $v = $Parameters[$_]
                if ($v -is [bool]) { "$_ = `$$v" } elseif ($v -is [int]) { "$_ = $v" } else { "$_ = '$($v -replace "'", "''")'" }
            }) -join '; '
        $script = @"
`$ErrorActionPreference = 'Stop'
Import-Module '$standIn'
function Get-AutomationPSCredential([string]`$Name) {
    `$a = (Get-Content -Raw -LiteralPath '$script:assetFile' | ConvertFrom-Json).`$Name
    if (-not `$a) { throw "no credential asset `$Name" }
    `$password = `$a.password
    `$marker = Join-Path '$work' ('read-once-' + `$Name)
    if (`$Name -eq 'KodoApp-$script:flaky' -and -not (Test-Path -LiteralPath `$marker)) { Set-Content -LiteralPath `$marker -Value 1; `$password = 'not-the-secret' }
    New-Object System.Management.Automation.PSCredential -ArgumentList @(`$a.user, (ConvertTo-SecureString `$password -AsPlainText -Force))
}
`$p = @{ $splat }
& '$runbook' @p
"@
        $file = Join-Path $work "job-$id.ps1"
        Set-Content -LiteralPath $file -Value $script -Encoding utf8
        $p = [System.Diagnostics.Process]::Start((New-PwshStartInfo -File $file -Environment @{ KODO_EMULATOR = $endpointFile; PSModulePath = $modulePath; KODO_TEST_VAULT_DIR = $script:vaultDir }))
        $script:jobs[$id] = [pscustomobject]@{ Process = $p; Out = $p.StandardOutput.ReadToEndAsync(); Err = $p.StandardError.ReadToEndAsync(); Parameters = $Parameters; RunOn = $RunOn }
        [pscustomobject]@{ JobId = $id; Status = 'New'; RunbookName = $Name }
    }
    function Get-AzAutomationJob {
        param([Parameter(Mandatory)][guid]$Id, [Parameter(Mandatory)][string]$ResourceGroupName, [Parameter(Mandatory)][string]$AutomationAccountName)
        $j = $script:jobs[$Id]
        $status = if (-not $j.Process.HasExited) { 'Running' } elseif ($j.Process.ExitCode -eq 0) { 'Completed' } else { 'Failed' }
        if ($status -ne 'Running' -and -not $j.PSObject.Properties['Text']) {
            $j | Add-Member -NotePropertyName Text -NotePropertyValue ($j.Out.Result + "`n" + $j.Err.Result)
            $script:outputs.Add($j.Text)
        }
        [pscustomobject]@{ JobId = $Id; Status = $status }
    }
    $script:parent = Join-Path $script:RepoRoot 'examples/runbooks/Start-KodoFleet.ps1'
    $script:ledger = Join-Path $work 'fleet.jsonl'
    $script:csv = Join-Path $work 'customers.csv'
    $script:fleet | ForEach-Object { [pscustomobject]@{ TenantId = $_.TenantId } } | Export-Csv -LiteralPath $script:csv -NoTypeInformation
    $script:fleetArgs = @{
        LedgerPath = $script:ledger; TenantListPath = $script:csv; CredentialName = 'KodoApp'; CredentialPerTenant = $true
        SecretVault = 'Fleet'; WorkDirectory = (Join-Path $work 'batches'); ResourceGroupName = 'rg'; AutomationAccountName = 'aa'
        RunOn = 'kodo-workers'; BatchSize = $script:batch; MaxJobs = 3; PollSeconds = 1; SkipAudit = $true; Environment = 'Emulator'
    }
}

AfterAll {
    foreach ($j in $script:jobs.Values) { if (-not $j.Process.HasExited) { $j.Process.Kill($true) } }
    Remove-Module SecretManagementStandIn -Force -ErrorAction SilentlyContinue
    $env:KODO_TEST_VAULT_DIR = $null
    $env:PSModulePath = $script:savedModulePath
    Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue
    Stop-KodoEmulator
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'Start-KodoFleet.ps1: a parent runbook and its child jobs' {
    It 'splits the tenants into 3 child jobs, retries the one that failed, and ends with a complete ledger' {
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        # Dot-sourced: in the scope of this test, where the stand-ins and their $script: variables are found.
        try { $out = @(. $script:parent @script:fleetArgs 3>&1) } catch { throw "$_`n$(($script:jobs.Values | ForEach-Object { $_.PSObject.Properties['Text'].Value }) -join "`n----`n")" }
        $text = ($out | Out-String -Width 300)
        $script:outputs.Add($text)
        $watch.Stop()
        Write-Host ("Parent/child: {0} tenants, {1} + 1 child jobs, {2:N1} s" -f $script:n, $script:firstJobs, $watch.Elapsed.TotalSeconds)
        $text | Should -Match "Round 1: $($script:n) tenants not done, in $($script:firstJobs) child jobs"
        $text | Should -Match 'Round 2: 1 tenants not done, in 1 child jobs'
        $text | Should -Match "$($script:n) tenants, $($script:firstJobs + 1) child jobs started, $($script:n) done"
        $script:jobs.Count | Should -Be ($script:firstJobs + 1)
        foreach ($j in $script:jobs.Values) {
            $j.Process.ExitCode | Should -Be 0 -Because $j.Text
            $j.RunOn | Should -Be 'kodo-workers'
        }
        ($script:jobs.Values | Where-Object { $_.Text -match "tenant=$($script:flaky) status=Failed" }).Count | Should -Be 1
        $status = @(Get-KodoOnboardingStatus -LedgerPath $script:ledger)
        $status.Count | Should -Be $script:n
        ($status | Where-Object State -ne 'Done').Count | Should -Be 0
        ($status | Where-Object TenantId -eq $script:flaky).Attempts | Should -Be 2 -Because 'failed in round 1, done in round 2'
        ($status | Where-Object TenantId -ne $script:flaky | Where-Object Attempts -ne 1).Count | Should -Be 0
        foreach ($t in $script:fleet) {
            $s = $status | Where-Object TenantId -eq $t.TenantId
            $s.CredentialLocation | Should -Be "SecretManagement vault 'Fleet', secret 'Kodo-$($t.TenantId)'"
            try { Assert-Converged $t 'Secret' (Join-Path (Join-Path $script:vaultDir 'Fleet') "Kodo-$($t.TenantId)") } catch { throw "Tenant $($t.TenantId): $_" }
        }
    }

    It 'run again, starts no child job and leaves the ledger as it is' {
        $before = (Get-FileHash -LiteralPath $script:ledger).Hash
        $jobCount = $script:jobs.Count
        Clear-Log
        $out = @(. $script:parent @script:fleetArgs)
        ($out | Out-String) | Should -Match "$($script:n) tenants, 0 child jobs started, $($script:n) done"
        $script:jobs.Count | Should -Be $jobCount
        @(Get-Log | Where-Object { $_.path -notlike '/_emulator/*' }).Count | Should -Be 0
        (Get-FileHash -LiteralPath $script:ledger).Hash | Should -Be $before
    }

    It 'leaves no secret in the fleet''s ledger, the children''s ledgers or any job output' {
        $secrets = @((Invoke-Control GET 'secrets').secrets) + @($emu.Tenants | ForEach-Object { $_.BootstrapCredential.GetNetworkCredential().Password })
        $ledgers = @(Get-ChildItem -LiteralPath $work -Recurse -Filter '*.jsonl')
        $ledgers.Count | Should -Be ($script:firstJobs + 2)
        $texts = @($ledgers | ForEach-Object { Get-Content -Raw -LiteralPath $_.FullName }) + @($script:outputs)
        @(Find-KodoSecret -Text $texts -Secret $secrets) | Should -BeNullOrEmpty
    }
}

Describe 'Start-KodoFleet.ps1 with a certificate per tenant (-CertificateFolder)' {
    It 'gives each tenant a certificate of its own, its PFX in the shared folder, and ends with a complete ledger with no secret in it' {
        $pfxFolder = Join-Path $work 'pfx'
        $null = New-Item -ItemType Directory -Path $pfxFolder
        $csv = Join-Path $work 'customers-certificates.csv'
        $script:certFleet | ForEach-Object { [pscustomobject]@{ TenantId = $_.TenantId } } | Export-Csv -LiteralPath $csv -NoTypeInformation
        $ledger = Join-Path $work 'fleet-certificates.jsonl'
        $fleetArgs = @{} + $script:fleetArgs
        $fleetArgs.Remove('SecretVault')
        $fleetArgs.LedgerPath = $ledger; $fleetArgs.TenantListPath = $csv; $fleetArgs.BatchSize = 2
        $fleetArgs.WorkDirectory = Join-Path $work 'batches-certificates'
        $fleetArgs.CertificateFolder = $pfxFolder; $fleetArgs.CertificatePasswordName = 'KodoPfx'
        $jobsBefore = $script:jobs.Count
        try { $out = @(. $script:parent @fleetArgs 3>&1) } catch { throw "$_`n$(($script:jobs.Values | ForEach-Object { $_.PSObject.Properties['Text'].Value }) -join "`n----`n")" }
        $text = ($out | Out-String -Width 300)
        $text | Should -Match '4 tenants, 2 child jobs started, 4 done'
        $script:jobs.Count | Should -Be ($jobsBefore + 2)
        $pfxPassword = ConvertTo-SecureString $script:pfxSecret -AsPlainText -Force
        $status = @(Get-KodoOnboardingStatus -LedgerPath $ledger)
        foreach ($t in $script:certFleet) {
            $path = Join-Path $pfxFolder "Kodo-$($t.TenantId)"
            ($status | Where-Object TenantId -eq $t.TenantId).CredentialLocation | Should -Be "PFX file '$path.pfx'"
            try { Assert-Converged $t 'Certificate' $path } catch { throw "Tenant $($t.TenantId): $_" }
        }
        # Neither the PFX password nor any secret the emulator handed out in a ledger or a job's output.
        $secrets = @((Invoke-Control GET 'secrets').secrets) + @($script:pfxSecret)
        $texts = @(Get-ChildItem -LiteralPath $work -Recurse -Filter '*.jsonl' | ForEach-Object { Get-Content -Raw -LiteralPath $_.FullName }) + @($script:outputs)
        @(Find-KodoSecret -Text $texts -Secret $secrets) | Should -BeNullOrEmpty
    }
    It 'refuses to run with both -SecretVault and -CertificateFolder (a credential goes to one place)' {
        $fleetArgs = @{} + $script:fleetArgs
        $fleetArgs.CertificateFolder = $work; $fleetArgs.CertificatePasswordName = 'KodoPfx'
        $jobsBefore = $script:jobs.Count
        { . $script:parent @fleetArgs } | Should -Throw '*one of them*'
        $script:jobs.Count | Should -Be $jobsBefore
    }
}
