# Tests of the module through the real native library: Get-KodoVersion, the loader, error
# mapping from statuses and error events, event streams, and cancellation.

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-Module $script:ManifestPath -Force
    $kodo = Get-Module Kodo

    function Invoke-InModule([scriptblock]$Script, [object[]]$Arguments = @()) {
        & $kodo $Script @Arguments
    }

    # Runs a scriptblock in a new runspace of this process with the module imported, so that
    # it can be stopped the way Ctrl+C stops a command.
    function Start-InRunspace([string]$Script) {
        $ps = [powershell]::Create()
        $null = $ps.AddScript("Import-Module '$($script:ManifestPath)'; $Script")
        $handle = $ps.BeginInvoke()
        [pscustomobject]@{ PowerShell = $ps; Handle = $handle }
    }
}

AfterAll {
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'Get-KodoVersion' {
    It 'prints the versions in a fresh pwsh process' {
        $r = Invoke-FreshPwsh -Script "Import-Module '$($script:ModuleDir)'; Get-KodoVersion | ConvertTo-Json"
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $v = $r.StdOut | ConvertFrom-Json
        $cargo = Get-CargoVersion
        $v.ModuleVersion | Should -Be $cargo
        $v.NativeVersion | Should -Be $cargo
        $v.ProtocolVersion | Should -Be 1
        $v.ModuleProtocolVersion | Should -Be 1
        $v.Target | Should -Match 'linux|windows|darwin'
        $v.NativeLibraryPath | Should -BeLike (Join-Path $script:ModuleDir 'runtimes*')
        Test-Path -LiteralPath $v.NativeLibraryPath | Should -BeTrue
    }

    It 'returns a Kodo.Version object with a list view' {
        $v = Get-KodoVersion
        $v.PSTypeNames | Should -Contain 'Kodo.Version'
        $text = $v | Out-String
        $text | Should -Match 'NativeVersion\s*:\s*\d+\.\d+\.\d+'
        $text | Should -Match 'NativeLibraryPath'
    }

    It 'goes through the native request path (the operations counter moves)' {
        $before = (Invoke-InModule { Invoke-KodoDebugOperation -Kind Stats }).operationsStarted
        $null = Get-KodoVersion
        (Invoke-InModule { Invoke-KodoDebugOperation -Kind Stats }).operationsStarted | Should -BeGreaterThan ($before + 1)
    }
}

Describe 'Loading the native library' {
    It 'exports only the C API and carries nothing of the emulator or a server' -Skip:(-not (Get-Command nm -CommandType Application -ErrorAction SilentlyContinue) -or $IsWindows) {
        $lib = (Get-KodoVersion).NativeLibraryPath
        $exported = @(& nm -D --defined-only $lib | ForEach-Object { ($_ -split '\s+')[-1] } | Where-Object { $_ })
        $LASTEXITCODE | Should -Be 0
        $exported | Should -Not -BeNullOrEmpty
        @($exported | Where-Object { $_ -notlike 'kodo_*' }) | Should -BeNullOrEmpty
        # Every function of include/kodo.h, and nothing else.
        $declared = @(Select-String -Path (Join-Path $script:RepoRoot 'include/kodo.h') -Pattern '\b(kodo_[a-z_]+)\(' -AllMatches | ForEach-Object { $_.Matches } | ForEach-Object { $_.Groups[1].Value } | Sort-Object -Unique)
        @($exported | Sort-Object -Unique) | Should -Be $declared
        # The whole symbol table (a debug build keeps it): no emulator, no HTTP server (reqwest's
        # own redirect middleware from tower-http is client code, and allowed).
        $server = @(& nm $lib 2>$null | Where-Object { $_ -match 'kodo_emulator|axum|axum_server|rcgen|clap_builder' })
        $server.Count | Should -Be 0 -Because (($server | Select-Object -First 3) -join '; ')
        @(& nm $lib 2>$null | Where-Object { $_ -match 'kodo_core' }).Count | Should -BeGreaterThan 0 -Because 'the core is linked in'
    }
    It 'honours KODO_NATIVE_LIBRARY' {
        $lib = (Get-KodoVersion).NativeLibraryPath
        $copy = Join-Path ([System.IO.Path]::GetTempPath()) ("kodo-override-" + [guid]::NewGuid() + [System.IO.Path]::GetExtension($lib))
        Copy-Item $lib $copy
        try {
            $r = Invoke-FreshPwsh -Script "Import-Module '$($script:ModuleDir)'; (Get-KodoVersion).NativeLibraryPath" -Environment @{ KODO_NATIVE_LIBRARY = $copy }
            $r.ExitCode | Should -Be 0 -Because $r.StdErr
            $r.StdOut.Trim() | Should -Be $copy
        } finally {
            Remove-Item $copy -ErrorAction SilentlyContinue
        }
    }

    It 'fails with an error that lists every path tried when the library is missing' {
        $missing = Join-Path ([System.IO.Path]::GetTempPath()) 'no-such-dir/libkodo.so'
        $r = Invoke-FreshPwsh -Environment @{ KODO_NATIVE_LIBRARY = $missing } -Script @"
Import-Module '$($script:ModuleDir)'
try { Get-KodoVersion; 'no error' } catch { `$_.FullyQualifiedErrorId; `$_.CategoryInfo.Category; `$_.Exception.Message }
"@
        $r.StdOut | Should -Match 'Kodo\.NativeLibraryNotFound,Get-KodoVersion'
        $r.StdOut | Should -Match 'ObjectNotFound'
        $r.StdOut | Should -Match ([regex]::Escape($missing))
        $r.StdOut | Should -Match 'KODO_NATIVE_LIBRARY'
    }

    It 'looks in runtimes/<rid>/native of the module folder and says so' {
        $copy = Join-Path ([System.IO.Path]::GetTempPath()) ("kodo-module-" + [guid]::NewGuid())
        New-Item -ItemType Directory $copy | Out-Null
        try {
            Copy-Item -Recurse (Join-Path $script:ModuleDir '*') $copy -Exclude runtimes
            $r = Invoke-FreshPwsh -Environment @{ KODO_NATIVE_LIBRARY = $null } -Script @"
Import-Module '$copy/Kodo.psd1'
try { Get-KodoVersion; 'no error' } catch { `$_.FullyQualifiedErrorId; `$_.Exception.Message }
"@
            $r.StdOut | Should -Match 'Kodo\.NativeLibraryNotFound'
            $r.StdOut | Should -Match ([regex]::Escape((Join-Path $copy 'runtimes')) + '.(linux|win|osx)-\w+.native.')
        } finally {
            Remove-Item -Recurse -Force $copy -ErrorAction SilentlyContinue
        }
    }

    It 'reports a file that is not a loadable library' {
        $bogus = Join-Path ([System.IO.Path]::GetTempPath()) ("kodo-bogus-" + [guid]::NewGuid() + '.so')
        Set-Content -LiteralPath $bogus -Value 'not a library'
        try {
            $r = Invoke-FreshPwsh -Environment @{ KODO_NATIVE_LIBRARY = $bogus } -Script @"
Import-Module '$($script:ModuleDir)'
try { Get-KodoVersion; 'no error' } catch { `$_.FullyQualifiedErrorId; `$_.CategoryInfo.Category }
"@
            $r.StdOut | Should -Match 'Kodo\.NativeLibraryLoadFailed'
            $r.StdOut | Should -Match 'ResourceUnavailable'
        } finally {
            Remove-Item $bogus -ErrorAction SilentlyContinue
        }
    }
}

Describe 'Error mapping' {
    It 'the interop assembly''s KodoStatus enum is the header''s list, and the library names each value the same' {
        $native = Invoke-InModule { $null = Get-KodoVersion; $script:KodoNative }
        $header = [System.IO.File]::ReadAllText((Join-Path $script:RepoRoot 'include/kodo.h'))
        $fromHeader = @([regex]::Matches($header, 'KODO_STATUS_([A-Z0-9_]+) = (\d+)') | ForEach-Object {
                $pascal = (($_.Groups[1].Value.ToLowerInvariant() -split '_') | ForEach-Object { $_.Substring(0, 1).ToUpperInvariant() + $_.Substring(1) }) -join ''
                "$pascal=$($_.Groups[2].Value)"
            })
        $fromEnum = @([Enum]::GetValues([Kodo.Interop.KodoStatus]) | ForEach-Object { "$_=$([int]$_)" })
        $fromHeader.Count | Should -BeGreaterThan 10
        ($fromEnum | Sort-Object) | Should -Be ($fromHeader | Sort-Object)
        foreach ($v in [Enum]::GetValues([Kodo.Interop.KodoStatus])) { $native.StatusName([int]$v) | Should -Be ([string]$v) }
        $native.StatusName(9999) | Should -Be 'Unknown'
    }

    Context 'error events from operations' {
        BeforeDiscovery {
            # Every code the library publishes, with its category.
            . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
            Import-Module $script:ManifestPath -Force
            $codes = @(& (Get-Module Kodo) { Invoke-KodoNative -Request @{ kind = 'version' } }).errorCodes |
                ForEach-Object { @{ Code = $_.code; Category = $_.category } }
        }

        It 'maps <Code> to ErrorId Kodo.<Code> and category <Category>' -ForEach $codes {
            [System.Management.Automation.ErrorCategory]$Category | Should -Not -BeNullOrEmpty
            $err = $null
            try { Invoke-InModule { param($c) Invoke-KodoDebugOperation -Kind Fail -Code $c -Message "failure $c" -Target 'the-target' } @($Code) } catch { $err = $_ }
            $err | Should -Not -BeNullOrEmpty
            $err.FullyQualifiedErrorId | Should -Be "Kodo.$Code,Invoke-KodoDebugOperation"
            [string]$err.CategoryInfo.Category | Should -Be $Category
            $err.Exception.Message | Should -Be "failure $Code"
            $err.TargetObject | Should -Be 'the-target'
        }
    }

    It 'is a terminating error that try/catch, $Error and -ErrorVariable all see with its id' {
        $r = Invoke-FreshPwsh -Environment @{ KODO_NATIVE_LIBRARY = '/nonexistent/libkodo.so' } -Script @"
Import-Module '$($script:ModuleDir)'
try { Get-KodoVersion -ErrorAction Stop } catch { "caught=`$(`$_.FullyQualifiedErrorId)" }
"error0=`$(`$Error[0].FullyQualifiedErrorId)"
`$v = Get-KodoVersion -ErrorAction SilentlyContinue -ErrorVariable ev 2>`$null
"ev0=`$(`$ev[0].FullyQualifiedErrorId) category=`$(`$ev[0].CategoryInfo.Category)"
"@
        $r.StdOut | Should -Match 'caught=Kodo\.NativeLibraryNotFound,Get-KodoVersion'
        $r.StdOut | Should -Match 'error0=Kodo\.NativeLibraryNotFound'
        $r.StdOut | Should -Match 'ev0=Kodo\.NativeLibraryNotFound category=ObjectNotFound'
    }

    It 'maps native status <Expected> to Kodo.Native.<Expected>' -ForEach @(
        @{ Expected = 'InvalidJson'; Category = 'InvalidData'; Call = { Invoke-KodoNative -RequestJson '{not json' } }
        @{ Expected = 'InvalidJson'; Category = 'InvalidData'; Call = { Invoke-KodoNative -RequestJson '' } }
        @{ Expected = 'InvalidRequest'; Category = 'InvalidData'; Call = { Invoke-KodoNative -Request @{ kind = 'no.such.request' } } }
        @{ Expected = 'InvalidRequest'; Category = 'InvalidData'; Call = { Invoke-KodoNative -Request @{ kind = 'version'; surplus = 1 } } }
        @{ Expected = 'UnsupportedProtocol'; Category = 'InvalidOperation'; Call = { Invoke-KodoNative -RequestJson '{"v":99,"kind":"version"}' } }
        @{ Expected = 'InvalidUtf8'; Category = 'InvalidData'; Call = { Invoke-KodoNative -RequestBytes ([byte[]](0x7B, 0x22, 0xFF, 0x22, 0x7D)) } }
        @{ Expected = 'NullArgument'; Category = 'InvalidArgument'; Call = { Invoke-KodoNative -RequestBytes $null } }
        @{ Expected = 'DebugHooksDisabled'; Category = 'InvalidOperation'; Call = { Invoke-KodoNative -Request @{ kind = 'debug.events' } } }
        @{ Expected = 'Panic'; Category = 'NotSpecified'; Call = { Invoke-KodoDebugOperation -Kind Panic -At start -Message 'panic at start' } }
    ) {
        $err = $null
        try { & $kodo $Call } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -BeLike "Kodo.Native.$Expected*"
        [string]$err.CategoryInfo.Category | Should -Be $Category
        $err.Exception.Message | Should -Not -BeNullOrEmpty
    }

    It 'contains a panic inside an operation, and the process keeps working' {
        $err = $null
        try { Invoke-InModule { Invoke-KodoDebugOperation -Kind Panic -Message 'panic in the operation' } } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeLike 'Kodo.Panic,*'
        $err.Exception.Message | Should -Match 'panic in the operation'
        (Get-KodoVersion).NativeVersion | Should -Be (Get-CargoVersion)
    }
}

Describe 'The request''s JSON' {
    # Plain requests are written by the interop assembly (KodoJson), anything else by
    # ConvertTo-Json; both must reach the library as the same values.
    BeforeAll {
        # Quotes, backslashes, control characters, a character outside the BMP (a surrogate
        # pair; a lone surrogate is left out: it is not text).
        $script:Tricky = "a `"quoted`" \path\ `ttab`r`nnewline $([char]1)$([char]0x1f) é ✓ $([char]::ConvertFromUtf32(0x1F4BE)) </script> '"
    }
    It 'carries <Case> to the library unchanged' -ForEach @(
        @{ Case = 'a plain string (KodoJson)'; Wrap = $false }
        @{ Case = 'a string wrapped in a PSObject (ConvertTo-Json)'; Wrap = $true }
    ) {
        $message = if ($Wrap) { Write-Output $script:Tricky } else { $script:Tricky }
        $request = @{ kind = 'debug.fail'; code = 'NotFound'; message = $message; target = @{ nested = @($message) }.nested[0] }
        $written = Invoke-InModule { param($r) [Kodo.Interop.KodoJson]::TryWrite($r) } @($request)
        if ($Wrap) { $written | Should -BeNullOrEmpty -Because 'a PowerShell object goes to ConvertTo-Json' } else { $written | Should -Not -BeNullOrEmpty }
        $err = $null
        try { Invoke-InModule { param($r) Invoke-KodoNative -DebugHooks -Request $r } @($request) } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'Kodo.NotFound'
        $err.Exception.Message | Should -BeExactly $script:Tricky
        $err.TargetObject | Should -BeExactly $script:Tricky
    }
    It 'writes what ConvertTo-Json writes for plain values, and leaves the rest to it' {
        $plain = [ordered]@{ v = 1; s = $script:Tricky; n = $null; t = $true; f = $false; i = -42; l = [long]::MaxValue; d = 0.1; list = [string[]]@('x', 'y'); empty = @(); map = @{ deep = @(@{ k = 1 }, 2, 'z') } }
        $mine = Invoke-InModule { param($r) [Kodo.Interop.KodoJson]::TryWrite($r) } @($plain)
        ($mine | ConvertFrom-Json | ConvertTo-Json -Depth 20 -Compress) | Should -BeExactly ((ConvertTo-Json -InputObject $plain -Depth 20 -Compress) | ConvertFrom-Json | ConvertTo-Json -Depth 20 -Compress)
        foreach ($other in @([pscustomobject]@{ a = 1 }, [DayOfWeek]::Monday, [datetime]'2026-12-05', [double]::NaN, [char]'c', (New-Object System.Collections.Generic.HashSet[string]))) {
            Invoke-InModule { param($r) [Kodo.Interop.KodoJson]::TryWrite($r) } @(@{ v = 1; x = $other }) | Should -BeNullOrEmpty -Because "$($other.GetType().Name) is not a plain value"
        }
        $deep = @{ v = 1 }; $at = $deep
        for ($i = 0; $i -lt 25; $i++) { $at['next'] = @{}; $at = $at['next'] }
        Invoke-InModule { param($r) [Kodo.Interop.KodoJson]::TryWrite($r) } @($deep) | Should -BeNullOrEmpty -Because 'deeper than ConvertTo-Json -Depth 20'
    }
}

Describe 'Event streams' {
    It 'writes verbose, debug, information, warning and prompt events to their streams' {
        $out = Invoke-InModule {
            $VerbosePreference = 'Continue'; $DebugPreference = 'Continue'; $InformationPreference = 'Continue'
            Invoke-KodoDebugOperation -Kind Events 3>&1 4>&1 5>&1 6>&1
        }
        $verbose = @($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] })
        $debugRecords = @($out | Where-Object { $_ -is [System.Management.Automation.DebugRecord] })
        $warnings = @($out | Where-Object { $_ -is [System.Management.Automation.WarningRecord] })
        $info = @($out | Where-Object { $_ -is [System.Management.Automation.InformationRecord] })
        $result = @($out | Where-Object { $_ -is [pscustomobject] -and $_.PSObject.Properties['emitted'] })
        $verbose.Message | Should -Contain 'a verbose line'
        $debugRecords.Message | Should -Contain 'a debug line'
        $warnings.Message | Should -Be @('a warning')
        ($info | Where-Object { $_.Tags -contains 'Kodo' }).MessageData | Should -Be 'an information line'
        $prompt = $info | Where-Object { $_.Tags -contains 'Kodo.Prompt' }
        $prompt.Tags | Should -Contain 'PSHOST'
        "$($prompt.MessageData)" | Should -Match 'DEBUG1234'
        $result.Count | Should -Be 1
    }

    It 'reports progress and completes it' {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript("Import-Module '$($script:ManifestPath)'; & (Get-Module Kodo) { Invoke-KodoDebugOperation -Kind Sleep -Milliseconds 350 }")
            $result = $ps.Invoke()
            $ps.HadErrors | Should -BeFalse
            $result[0].sleptMs | Should -Be 350
            $progress = @($ps.Streams.Progress)
            $progress.Count | Should -BeGreaterThan 2
            $progress[0].Activity | Should -Be 'Sleeping'
            ($progress | Where-Object PercentComplete -eq 100) | Should -Not -BeNullOrEmpty
            $progress[-1].RecordType | Should -Be 'Completed'
        } finally {
            $ps.Dispose()
        }
    }
}

Describe 'The native heap' {
    It 'is counted: live bytes, a peak that restarts on request, nothing kept by finished operations' {
        1..20 | ForEach-Object { $null = Get-KodoVersion }
        $start = Invoke-InModule { Invoke-KodoDebugOperation -Kind Stats -ResetPeak }
        $start.heapLiveBytes | Should -BeGreaterThan 0
        $start.heapPeakBytes | Should -BeGreaterOrEqual $start.heapLiveBytes
        # Each answer (the error code table) is a few kilobytes: 100 of them kept would be 300 KB.
        1..100 | ForEach-Object { $null = Get-KodoVersion }
        $end = Invoke-InModule { Invoke-KodoDebugOperation -Kind Stats }
        ($end.heapLiveBytes - $start.heapLiveBytes) | Should -BeLessThan 64KB
        $end.heapPeakBytes | Should -BeGreaterThan $start.heapLiveBytes -Because 'the answers were allocated after the reset'
        $end.heapPeakBytes | Should -BeLessThan ($start.heapLiveBytes + 1MB) -Because 'a reset peak starts from what was live then'
    }
}

Describe 'Cancellation' {
    It 'stopping the pipeline (as Ctrl+C does) cancels and frees the native operation promptly' {
        $before = Invoke-InModule { Invoke-KodoDebugOperation -Kind Stats }
        $run = Start-InRunspace '& (Get-Module Kodo) { Invoke-KodoDebugOperation -Kind Sleep -Milliseconds 600000 }'
        try {
            # Wait until the operation is really running (it reports progress every 100 ms).
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while ($run.PowerShell.Streams.Progress.Count -lt 2 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            $run.PowerShell.Streams.Progress.Count | Should -BeGreaterOrEqual 2
            (Invoke-InModule { Invoke-KodoDebugOperation -Kind Stats }).operationsLive | Should -Be ($before.operationsLive + 1)

            $watch = [System.Diagnostics.Stopwatch]::StartNew()
            $run.PowerShell.Stop()
            $watch.Stop()
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 3
            $run.PowerShell.InvocationStateInfo.State | Should -Be 'Stopped'
        } finally {
            $run.PowerShell.Dispose()
        }
        $after = Invoke-InModule { Invoke-KodoDebugOperation -Kind Stats }
        $after.operationsCancelled | Should -Be ($before.operationsCancelled + 1)
        $after.operationsLive | Should -Be $before.operationsLive
    }

    It 'a finished operation is freed too' {
        $before = Invoke-InModule { Invoke-KodoDebugOperation -Kind Stats }
        1..5 | ForEach-Object { $null = Get-KodoVersion }
        try { Invoke-InModule { Invoke-KodoDebugOperation -Kind Fail -Code NotFound } } catch { $null = $_ }
        (Invoke-InModule { Invoke-KodoDebugOperation -Kind Stats }).operationsLive | Should -Be $before.operationsLive
    }
}
