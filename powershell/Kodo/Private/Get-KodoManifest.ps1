function Get-KodoManifest {
    <#
    .SYNOPSIS
    Loads a permission manifest: a built-in one (Seed, Kodo43) or the admin's JSON file.
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
    try {
        ConvertFrom-Json -InputObject ([System.IO.File]::ReadAllText($full))
    } catch {
        throw (New-KodoErrorRecord -ErrorId 'Kodo.InvalidArgument' -Category InvalidArgument -TargetObject $full -Message "The manifest '$full' is not valid JSON: $($_.Exception.Message)")
    }
}
