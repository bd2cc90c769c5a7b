# Meta-tests: the manifest, the exported commands, their help, and Windows PowerShell 5.1
# compatibility of every script file the module loads.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $manifest = Import-PowerShellDataFile -Path $script:ManifestPath
    $exported = @($manifest.FunctionsToExport)
    # Every module under powershell/ (Kodo, Kodo.Emulator): Windows PowerShell 5.1 loads them all.
    $powershellDir = Join-Path $script:RepoRoot 'powershell'
    $scriptFiles = @(Get-ChildItem -Path $powershellDir -Recurse -Include '*.ps1', '*.psm1', '*.psd1' |
        Where-Object { $_.FullName -notmatch '[\\/](bin|obj|runtimes)[\\/]' } |
        ForEach-Object { @{ Path = $_.FullName; Name = $_.FullName.Substring($powershellDir.Length + 1).Replace('\', '/') } })
    # The example runbooks run in Azure Automation's 5.1 runtime too.
    $scriptFiles += @(Get-ChildItem -Path (Join-Path $script:RepoRoot 'examples/runbooks') -Filter '*.ps1' |
        ForEach-Object { @{ Path = $_.FullName; Name = "examples/runbooks/$($_.Name)" } })
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $manifest = Import-PowerShellDataFile -Path $script:ManifestPath
    Import-Module $script:ManifestPath -Force
}

AfterAll {
    Remove-Module Kodo -Force -ErrorAction SilentlyContinue
}

Describe 'The module manifest' {
    It 'is valid' {
        { Test-ModuleManifest -Path $script:ManifestPath -ErrorAction Stop } | Should -Not -Throw
    }
    It 'declares both editions and Windows PowerShell 5.1' {
        $manifest.CompatiblePSEditions | Should -Be @('Desktop', 'Core')
        $manifest.PowerShellVersion | Should -Be '5.1'
    }
    It 'exports nothing by wildcard' {
        foreach ($key in 'FunctionsToExport', 'CmdletsToExport', 'VariablesToExport', 'AliasesToExport') {
            $manifest.ContainsKey($key) | Should -BeTrue -Because "$key must be explicit"
            @($manifest[$key]) -join ',' | Should -Not -Match '\*'
        }
    }
    It 'has the version of Cargo.toml' {
        $manifest.ModuleVersion | Should -Be (Get-CargoVersion)
    }
    It 'has Kodo.Emulator beside it, of the same version, with the emulator out of Kodo' {
        $emulatorManifest = Join-Path $script:RepoRoot 'powershell/Kodo.Emulator/Kodo.Emulator.psd1'
        $m = Test-ModuleManifest -Path $emulatorManifest -ErrorAction Stop
        [string]$m.Version | Should -Be $manifest.ModuleVersion
        $m.Guid | Should -Not -Be ([guid]$manifest.GUID)
        @($m.ExportedFunctions.Keys) | Should -Be @('Get-KodoEmulatorPath')
        @(Get-ChildItem -Path $script:ModuleDir -Recurse -File -Filter 'kodo-emulator*') | Should -BeNullOrEmpty -Because 'build.ps1 lays the emulator into powershell/Kodo.Emulator only'
    }
    It 'is ready for the PowerShell Gallery' {
        $psData = $manifest.PrivateData.PSData
        $psData.ProjectUri | Should -Match '^https://'
        $psData.LicenseUri | Should -Match '^https://.*/LICENSE$'
        $psData.ReleaseNotes | Should -Match ([regex]::Escape($manifest.ModuleVersion))
        Join-Path $script:RepoRoot 'LICENSE' | Should -Exist
        # Tags say only what a release ships and tests: Windows and Linux, both editions.
        foreach ($tag in 'Windows', 'Linux', 'PSEdition_Desktop', 'PSEdition_Core') { $psData.Tags | Should -Contain $tag }
        $psData.Tags | Should -Not -Contain 'MacOS'
    }
    It 'loads no assembly and no native library at import' {
        $r = Invoke-FreshPwsh -Script @"
Import-Module '$($script:ManifestPath)'
`$asm = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -eq 'Kodo.Interop' }
`$maps = if (Test-Path /proc/self/maps) { Get-Content /proc/self/maps | Where-Object { `$_ -match 'libkodo' } } else { `$null }
"interop=`$([bool]`$asm) native=`$([bool]`$maps)"
`$null = Get-KodoVersion
`$asm = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -eq 'Kodo.Interop' }
`$maps = if (Test-Path /proc/self/maps) { Get-Content /proc/self/maps | Where-Object { `$_ -match 'libkodo' } } else { `$null }
"after: interop=`$([bool]`$asm) native=`$([bool]`$maps -or -not (Test-Path /proc/self/maps))"
"@
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $r.StdOut | Should -Match 'interop=False native=False'
        $r.StdOut | Should -Match 'after: interop=True native=True'
    }
}

Describe 'Exported commands' {
    It 'are exactly the files in Public/' {
        $public = @(Get-ChildItem (Join-Path $script:ModuleDir 'Public') -Filter *.ps1 | ForEach-Object BaseName | Sort-Object)
        $exported = @((Get-Module Kodo).ExportedFunctions.Keys | Sort-Object)
        $exported | Should -Be $public
        @($manifest.FunctionsToExport | Sort-Object) | Should -Be $public
    }
    It 'each Public file defines exactly the function it is named after' {
        foreach ($file in Get-ChildItem (Join-Path $script:ModuleDir 'Public') -Filter *.ps1) {
            $ast = [System.Management.Automation.Language.Parser]::ParseFile($file.FullName, [ref]$null, [ref]$null)
            $functions = @($ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.FunctionDefinitionAst] }, $false))
            @($functions.Name) | Should -Be @($file.BaseName)
        }
    }
    It 'only Invoke-KodoNative touches the native library' {
        $offenders = Get-ChildItem $script:ModuleDir -Recurse -Include *.ps1, *.psm1 |
            Where-Object { $_.Name -notin 'Invoke-KodoNative.ps1', 'Kodo.psm1' } |
            Where-Object { (Get-Content -Raw $_.FullName) -match 'Kodo\.Interop|\$script:KodoNative\b' }
        @($offenders).Count | Should -Be 0 -Because "found in: $($offenders -join ', ')"
    }
}

Describe 'Output types' {
    It 'every Kodo type the module makes has a format view' {
        # Each object type a cmdlet emits (PSTypeName = 'Kodo.X', or a type name inserted).
        $made = @(Get-ChildItem $script:ModuleDir -Recurse -Include *.ps1, *.psm1 | ForEach-Object {
                [regex]::Matches((Get-Content -Raw $_.FullName), "PSTypeName\s*=\s*'(Kodo\.[A-Za-z.]+)'|TypeNames\.Insert\(\d+,\s*'(Kodo\.[A-Za-z.]+)'\)") |
                    ForEach-Object { if ($_.Groups[1].Success) { $_.Groups[1].Value } else { $_.Groups[2].Value } }
            } | Sort-Object -Unique)
        $made.Count | Should -BeGreaterThan 15 -Because 'the scan must find the types'
        [xml]$format = Get-Content -Raw (Join-Path $script:ModuleDir 'Kodo.Format.ps1xml')
        $viewed = @($format.Configuration.ViewDefinitions.View | ForEach-Object { $_.ViewSelectedBy.TypeName } | Sort-Object -Unique)
        @($made | Where-Object { $viewed -notcontains $_ }) | Should -BeNullOrEmpty -Because 'a new output type needs a view in Kodo.Format.ps1xml'
        @($viewed | Where-Object { $made -notcontains $_ }) | Should -BeNullOrEmpty -Because 'a view for a type nothing makes is dead'
    }
    It 'every view renders, as table and as list, without an error' {
        # One object per view with every property the view names left empty: a script block
        # that fails on an empty property shows '#ERR' or throws.
        [xml]$format = Get-Content -Raw (Join-Path $script:ModuleDir 'Kodo.Format.ps1xml')
        foreach ($type in @($format.Configuration.ViewDefinitions.View | ForEach-Object { $_.ViewSelectedBy.TypeName } | Sort-Object -Unique)) {
            $o = [pscustomobject]@{ PSTypeName = $type }
            $text = ($o | Format-Table | Out-String) + ($o | Format-List | Out-String)
            $text | Should -Not -Match '#ERR' -Because "the view of $type must render an object whose properties are empty"
        }
    }
    It 'every exported command declares what it outputs' {
        foreach ($name in $manifest.FunctionsToExport) {
            @((Get-Command $name -Module Kodo).OutputType).Count | Should -BeGreaterThan 0 -Because "$name has no [OutputType]"
        }
    }
}

Describe 'Help of <_>' -ForEach $exported {
    BeforeAll {
        $command = $_
        $help = Get-Help $command -Full
        $commonParameters = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
        $parameters = @((Get-Command $command).Parameters.Keys | Where-Object { $_ -notin $commonParameters })
    }
    It 'has a synopsis' {
        $help.Synopsis | Should -Not -BeNullOrEmpty
        # Without comment-based help, Get-Help makes the synopsis from the syntax.
        $help.Synopsis | Should -Not -Match "^\s*$([regex]::Escape($command))\s"
    }
    It 'has a description' {
        ($help.Description | Out-String).Trim() | Should -Not -BeNullOrEmpty
    }
    It 'has at least one example with code and remarks' {
        @($help.Examples.Example).Count | Should -BeGreaterThan 0
        foreach ($example in $help.Examples.Example) {
            $example.Code | Should -Not -BeNullOrEmpty
            ($example.Remarks | Out-String).Trim() | Should -Not -BeNullOrEmpty
        }
    }
    It 'describes every parameter' {
        foreach ($name in $parameters) {
            $p = $help.Parameters.Parameter | Where-Object Name -eq $name
            ($p.Description | Out-String).Trim() | Should -Not -BeNullOrEmpty -Because "parameter -$name needs help"
        }
    }
}

Describe 'Windows PowerShell 5.1 compatibility of <Name>' -ForEach $scriptFiles {
    BeforeAll {
        $tokens = $null; $errors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseFile($Path, [ref]$tokens, [ref]$errors)
        $bytes = [System.IO.File]::ReadAllBytes($Path)
    }
    It 'parses' {
        $errors | Should -BeNullOrEmpty
    }
    It 'is ASCII, or UTF-8 with a BOM (5.1 reads BOM-less files as ANSI)' {
        $hasBom = $bytes.Length -ge 3 -and $bytes[0] -eq 0xEF -and $bytes[1] -eq 0xBB -and $bytes[2] -eq 0xBF
        $nonAscii = @($bytes | Where-Object { $_ -gt 0x7F }).Count
        ($hasBom -or $nonAscii -eq 0) | Should -BeTrue
    }
    It 'uses no PowerShell 7-only syntax' {
        $found = $ast.FindAll({
                param($n)
                $n.GetType().Name -in 'TernaryExpressionAst', 'PipelineChainAst' -or
                ($n -is [System.Management.Automation.Language.BinaryExpressionAst] -and $n.Operator -eq 'QuestionQuestion') -or
                ($n -is [System.Management.Automation.Language.AssignmentStatementAst] -and $n.Operator -eq 'QuestionQuestionEquals') -or
                ($n -is [System.Management.Automation.Language.MemberExpressionAst] -and $n.NullConditional) -or
                ($n -is [System.Management.Automation.Language.IndexExpressionAst] -and $n.NullConditional) -or
                # clean { } (PowerShell 7.3)
                ($n -is [System.Management.Automation.Language.ScriptBlockAst] -and $n.PSObject.Properties['CleanBlock'] -and $null -ne $n.CleanBlock)
            }, $true)
        @($found | ForEach-Object { "line $($_.Extent.StartLineNumber): $($_.Extent.Text)" }) | Should -BeNullOrEmpty
    }
    It 'uses no type accelerator or type that Windows PowerShell 5.1 lacks' {
        # The accelerators PowerShell 6 and 7 added ([ordered] and [pscustomobject] are 5.1's too).
        $ps7Types = @('semver', 'System.Management.Automation.SemanticVersion', 'ArgumentCompletions', 'ValidateNotNullOrWhiteSpace',
            'NoRunspaceAffinity', 'Experimental', 'ExperimentAction', 'ExperimentalFeature', 'pspropertyexpression',
            'short', 'ushort', 'uint', 'ulong')
        $found = $ast.FindAll({
                param($n)
                ($n -is [System.Management.Automation.Language.TypeExpressionAst] -or
                    $n -is [System.Management.Automation.Language.TypeConstraintAst] -or
                    $n -is [System.Management.Automation.Language.AttributeAst]) -and
                $ps7Types -contains $n.TypeName.Name
            }, $true)
        @($found | ForEach-Object { "line $($_.Extent.StartLineNumber): $($_.Extent.Text)" }) | Should -BeNullOrEmpty
    }
    It 'calls [Enum]::TryParse only in the generic form .NET Framework 4.8 has' {
        # TryParse<TEnum>(string, [bool,] out TEnum) exists on .NET Framework and .NET; PowerShell
        # infers TEnum from the [ref] variable, which must already hold a value of the enum.
        # TryParse(Type, string, out object) exists only on .NET Core 2.0 and later.
        $calls = $ast.FindAll({
                param($n)
                $n -is [System.Management.Automation.Language.InvokeMemberExpressionAst] -and $n.Static -and
                $n.Member.Value -eq 'TryParse' -and $n.Expression.TypeName.Name -in 'Enum', 'System.Enum'
            }, $true)
        $problems = foreach ($call in $calls) {
            $arguments = @($call.Arguments)
            $last = $arguments[-1]
            $refVariable = if ($last -is [System.Management.Automation.Language.ConvertExpressionAst] -and $last.Type.TypeName.Name -eq 'ref' -and
                $last.Child -is [System.Management.Automation.Language.VariableExpressionAst]) { $last.Child.VariablePath.UserPath }
            if ($arguments.Count -notin 2, 3 -or $arguments[0] -is [System.Management.Automation.Language.TypeExpressionAst] -or -not $refVariable) {
                "line $($call.Extent.StartLineNumber): $($call.Extent.Text) (not TryParse([string]`$value, [ref]`$typedVariable))"
                continue
            }
            # The [ref] variable is given an enum value ([Type]::Member) before the call.
            $typed = $ast.FindAll({
                    param($n)
                    $n -is [System.Management.Automation.Language.AssignmentStatementAst] -and
                    $n.Extent.StartOffset -lt $call.Extent.StartOffset -and
                    $n.Left -is [System.Management.Automation.Language.VariableExpressionAst] -and $n.Left.VariablePath.UserPath -eq $refVariable -and
                    $n.Right.Expression -is [System.Management.Automation.Language.MemberExpressionAst] -and $n.Right.Expression.Static
                }, $true)
            if (-not $typed) { "line $($call.Extent.StartLineNumber): `$$refVariable holds no enum value before $($call.Extent.Text)" }
        }
        @($problems) | Should -BeNullOrEmpty
    }
    It 'uses no PowerShell 7-only commands, parameters or variables' {
        $ps7Only = @{
            'ConvertFrom-Json' = @('AsHashtable', 'Depth', 'NoEnumerate')
            'ForEach-Object'   = @('Parallel', 'ThrottleLimit')
            '%'                = @('Parallel', 'ThrottleLimit')
            'foreach'          = @('Parallel', 'ThrottleLimit')
            'Join-Path'        = @('AdditionalChildPath')
            'Test-Json'        = @('*')
            'Get-Error'        = @('*')
            'Remove-Alias'     = @('*')
        }
        $problems = foreach ($cmd in $ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.CommandAst] }, $true)) {
            $name = $cmd.GetCommandName()
            if ($name -and $ps7Only.ContainsKey($name)) {
                $banned = $ps7Only[$name]
                if ($banned -contains '*') { "line $($cmd.Extent.StartLineNumber): $name"; continue }
                foreach ($p in $cmd.CommandElements | Where-Object { $_ -is [System.Management.Automation.Language.CommandParameterAst] }) {
                    if ($banned | Where-Object { $_ -like "$($p.ParameterName)*" }) { "line $($cmd.Extent.StartLineNumber): $name -$($p.ParameterName)" }
                }
            }
        }
        $variables = $ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.VariableExpressionAst] -and $n.VariablePath.UserPath -in 'IsWindows', 'IsLinux', 'IsMacOS', 'IsCoreCLR' }, $true)
        $problems = @($problems) + @($variables | ForEach-Object { "line $($_.Extent.StartLineNumber): `$$($_.VariablePath.UserPath)" })
        # ProcessStartInfo.ArgumentList is .NET Core 2.1+ (use .Arguments).
        $apis = [regex]::Matches([System.IO.File]::ReadAllText($Path), 'PtrToStringUTF8|StringToCoTaskMemUTF8|System\.Text\.Json|\[System\.Runtime\.InteropServices\.NativeLibrary\]|\.ArgumentList\.Add')
        $problems = @($problems) + @($apis | ForEach-Object { $_.Value })
        @($problems | Where-Object { $_ }) | Should -BeNullOrEmpty
    }
}
