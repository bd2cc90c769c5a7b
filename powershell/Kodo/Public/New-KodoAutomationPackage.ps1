function New-KodoAutomationPackage {
    <#
    .SYNOPSIS
    Builds Kodo.zip in the layout Azure Automation imports: the Kodo module folder at the zip's root, the native library of each runtime under runtimes/<rid>/native/.

    .DESCRIPTION
    Azure Automation imports a custom module from a .zip whose name, top folder and manifest
    share the module's name (Kodo.zip > Kodo/ > Kodo.psd1), and refuses a file whose path in
    the module is longer than 140 characters. This command packs the module this session
    loaded (or -ModulePath) that way, with only the runtimes you ask for: win-x64 (the default)
    for Automation's cloud sandboxes, which run Windows; linux-x64 for Linux Hybrid Runbook
    Workers. The tenant emulator is left out: runbooks talk to the real tenant. The functions of
    Public/ and Private/ are written into Kodo.psm1 itself: a runbook imports the module in
    every job, and one file imports about twice as fast as 30 dot-sourced ones.

    Each runtime's library must already be in the module folder (runtimes/<rid>/native/kodo.dll
    or libkodo.so); Kodo cannot cross-compile the Windows library on Linux. A Debug build is
    packed with a warning: Release libraries are a fraction of the size.

    The zip is deterministic (fixed entry order and timestamps): when the file at -Path already
    holds exactly this content, it is left as it is and the result says Changed = False.

    .PARAMETER Path
    The folder to write Kodo.zip into, or the full path of the zip (its name must be Kodo.zip).
    Default: the current folder.

    .PARAMETER Runtime
    The runtimes to include: win-x64 (default), win-arm64, linux-x64, linux-arm64, osx-x64,
    osx-arm64.

    .PARAMETER ModulePath
    The Kodo module folder to pack (default: the loaded module's folder).

    .PARAMETER MaxSizeMB
    Refuse to write a zip larger than this (default 100, Azure Automation's maximum module size).

    .EXAMPLE
    New-KodoAutomationPackage -Path ./out

    Writes ./out/Kodo.zip with the win-x64 library, ready for Automation > Modules > Add a module.

    .EXAMPLE
    New-KodoAutomationPackage -Path ./out -Runtime win-x64, linux-x64

    Also includes the Linux library, for Linux Hybrid Runbook Workers.

    .OUTPUTS
    Kodo.AutomationPackage
    #>
    [CmdletBinding(SupportsShouldProcess)]
    [OutputType('Kodo.AutomationPackage')]
    param(
        [Parameter(Position = 0)]
        [ValidateNotNullOrEmpty()]
        [string]$Path = '.',

        [ValidateSet('win-x64', 'win-arm64', 'linux-x64', 'linux-arm64', 'osx-x64', 'osx-arm64')]
        [string[]]$Runtime = @('win-x64'),

        [ValidateNotNullOrEmpty()]
        [string]$ModulePath,

        [ValidateRange(1, 1024)]
        [int]$MaxSizeMB = 100
    )

    try {
        # Azure Automation's rules (learn.microsoft.com/azure/automation/shared-resources/modules):
        # "Make sure that all files in the module have paths with fewer than 140 characters";
        # the .zip "should have the same name as the contained module folder". The default
        # -MaxSizeMB is "Maximum size of a module | 100 MB" (learn.microsoft.com/azure/automation/
        # automation-subscription-limits-faq).
        $maxPathLength = 140
        $moduleName = 'Kodo'
        $source = if ($ModulePath) { $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($ModulePath) } else { $script:KodoModuleRoot }
        $source = [System.IO.Path]::GetFullPath($source).TrimEnd([char]'/', [char]'\')
        if (-not [System.IO.File]::Exists([System.IO.Path]::Combine($source, "$moduleName.psd1"))) {
            throw (New-KodoErrorRecord -ErrorId 'Kodo.ModuleNotFound' -Category ObjectNotFound -TargetObject $source `
                -Message "'$source' is not a Kodo module folder (no $moduleName.psd1 in it).")
        }

        $target = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
        if ([System.IO.Directory]::Exists($target) -or -not [System.IO.Path]::GetExtension($target)) {
            $target = [System.IO.Path]::Combine($target, "$moduleName.zip")
        } elseif ([System.IO.Path]::GetFileName($target) -ne "$moduleName.zip") {
            throw (New-KodoErrorRecord -ErrorId 'Kodo.InvalidPackageName' -Category InvalidArgument -TargetObject $target `
                -Message "Azure Automation needs the zip, its top folder and the module to share one name: the file must be called $moduleName.zip, not '$([System.IO.Path]::GetFileName($target))'.")
        }
        $targetFolder = [System.IO.Path]::GetDirectoryName($target)
        if (-not [System.IO.Directory]::Exists($targetFolder)) {
            throw (New-KodoErrorRecord -ErrorId 'Kodo.FolderNotFound' -Category ObjectNotFound -TargetObject $targetFolder `
                -Message "The folder '$targetFolder' does not exist.")
        }

        # What goes in: the module's own files, and each asked-for runtime's library only.
        $files = New-Object -TypeName System.Collections.Generic.List[string]
        foreach ($name in @("$moduleName.psd1", "$moduleName.psm1", "$moduleName.Format.ps1xml")) { $files.Add($name) }
        # Public/ and Private/ go into Kodo.psm1 itself (see below), not as files.
        foreach ($folder in @('Data', 'en-US', 'bin')) {
            $full = [System.IO.Path]::Combine($source, $folder)
            if (-not [System.IO.Directory]::Exists($full)) { continue }
            foreach ($f in [System.IO.Directory]::GetFiles($full, '*', [System.IO.SearchOption]::AllDirectories)) {
                $files.Add($f.Substring($source.Length + 1).Replace('\', '/'))
            }
        }
        $missing = @()
        foreach ($rid in $Runtime) {
            $lib = if ($rid -like 'win-*') { 'kodo.dll' } elseif ($rid -like 'osx-*') { 'libkodo.dylib' } else { 'libkodo.so' }
            $relative = "runtimes/$rid/native/$lib"
            if ([System.IO.File]::Exists([System.IO.Path]::Combine($source, $relative))) { $files.Add($relative) } else { $missing += $relative }
        }
        if ($missing) {
            $message = "The module at '$source' has no native library for: $($missing -join ', '). Build it on that platform (pwsh ./build.ps1 on Windows makes runtimes/win-x64/native/kodo.dll) and copy it into the module folder, or choose -Runtime among the ones built."
            throw (New-KodoErrorRecord -ErrorId 'Kodo.RuntimeNotBuilt' -Category ObjectNotFound -TargetObject ($missing -join ', ') -Message $message)
        }
        $sorted = @($files | Sort-Object -Unique)
        $long = @($sorted | ForEach-Object { "$moduleName/$_" } | Where-Object { $_.Length -ge $maxPathLength })
        if ($long) {
            throw (New-KodoErrorRecord -ErrorId 'Kodo.PathTooLong' -Category LimitsExceeded -TargetObject $long[0] `
                -Message "Azure Automation needs every module file path to be shorter than $maxPathLength characters: $($long -join ', ').")
        }
        if ($Runtime -contains (Get-KodoRuntimeIdentifier) -and -not $ModulePath) {
            $version = Get-KodoVersion
            if ($version.BuildProfile -ne 'release') {
                Write-Warning "The $(Get-KodoRuntimeIdentifier) library is a $($version.BuildProfile) build; a Release build (pwsh ./build.ps1) is much smaller and faster."
            }
        }

        # Build the zip in memory: deterministic, so an unchanged package is not rewritten.
        if (-not ('System.IO.Compression.ZipArchive' -as [type])) { Add-Type -AssemblyName System.IO.Compression }
        $stamp = New-Object -TypeName System.DateTimeOffset -ArgumentList @(2000, 1, 1, 0, 0, 0, [TimeSpan]::Zero)
        $buffer = New-Object -TypeName System.IO.MemoryStream
        $zip = New-Object -TypeName System.IO.Compression.ZipArchive -ArgumentList @($buffer, [System.IO.Compression.ZipArchiveMode]::Create, $true)
        $uncompressed = [long]0
        try {
            foreach ($relative in $sorted) {
                if ($relative -eq "$moduleName.psm1") {
                    $bytes = Get-KodoMergedRootModule -ModuleFolder $source
                } else {
                    $bytes = [System.IO.File]::ReadAllBytes([System.IO.Path]::Combine($source, $relative))
                }
                $uncompressed += $bytes.Length
                $entry = $zip.CreateEntry("$moduleName/$relative", [System.IO.Compression.CompressionLevel]::Optimal)
                $entry.LastWriteTime = $stamp
                $stream = $entry.Open()
                try { $stream.Write($bytes, 0, $bytes.Length) } finally { $stream.Dispose() }
            }
        } finally {
            $zip.Dispose()
        }
        $content = $buffer.ToArray()
        $buffer.Dispose()
        $sha = [System.Security.Cryptography.SHA256]::Create()
        try { $hash = [BitConverter]::ToString($sha.ComputeHash($content)).Replace('-', '') } finally { $sha.Dispose() }
        if ($content.Length -gt $MaxSizeMB * 1MB) {
            $message = 'Kodo.zip would be {0:N1} MB, over the {1} MB limit (-MaxSizeMB). Package a Release build (pwsh ./build.ps1) and only the runtimes you need.' -f ($content.Length / 1MB), $MaxSizeMB
            throw (New-KodoErrorRecord -ErrorId 'Kodo.PackageTooLarge' -Category LimitsExceeded -TargetObject $target -Message $message)
        }

        $changed = $true
        if ([System.IO.File]::Exists($target)) {
            $existing = [System.IO.File]::ReadAllBytes($target)
            $sha = [System.Security.Cryptography.SHA256]::Create()
            try { $existingHash = [BitConverter]::ToString($sha.ComputeHash($existing)).Replace('-', '') } finally { $sha.Dispose() }
            if ($existingHash -eq $hash) { $changed = $false }
        }
        if (-not $changed) {
            Write-Verbose "$target already holds this package; nothing written."
        } elseif ($PSCmdlet.ShouldProcess($target, "Write the Azure Automation package ($($sorted.Count) files, runtimes $($Runtime -join ', '))")) {
            [System.IO.File]::WriteAllBytes($target, $content)
        } else {
            return
        }
        [pscustomobject]@{
            PSTypeName       = 'Kodo.AutomationPackage'
            Path             = $target
            ModuleVersion    = [string](Import-PowerShellDataFile -LiteralPath ([System.IO.Path]::Combine($source, "$moduleName.psd1"))).ModuleVersion
            Runtimes         = @($Runtime)
            Files            = $sorted.Count
            SizeBytes        = [long]$content.Length
            UncompressedBytes = $uncompressed
            LongestPath      = ($sorted | ForEach-Object { "$moduleName/$_".Length } | Measure-Object -Maximum).Maximum
            Sha256           = $hash
            Changed          = $changed
        }
    } catch {
        $PSCmdlet.ThrowTerminatingError($_)
    }
}
