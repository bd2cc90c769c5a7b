function Get-KodoManifest {
    <#
    .SYNOPSIS
    A permission manifest for the library: a built-in one (Seed, Kodo43) or the admin's JSON file, as its path and text.
    #>
    [CmdletBinding()]
    param([string]$Name = 'Seed', [string]$Path)

    if ($Path) {
        $full = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Path)
        if (-not [System.IO.File]::Exists($full)) {
            throw (New-KodoErrorRecord -ErrorId 'Kodo.ManifestNotFound' -Category ObjectNotFound -TargetObject $full -Message "The manifest '$full' does not exist.")
        }
    } else {
        $full = [System.IO.Path]::Combine($script:KodoModuleRoot, 'Data', $(if ($Name -eq 'Kodo43') { 'kodo-4.3.json' } else { 'seed.json' }))
    }
    # The text goes to the library as it is: the library parses it (an error names the file, the
    # row, and the line and column), so PowerShell's JSON reader (which differs between 5.1 and 7)
    # never sees it.
    [ordered]@{ file = $full; text = [System.IO.File]::ReadAllText($full) }
}
