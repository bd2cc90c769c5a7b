function Get-KodoMergedRootModule {
    <#
    .SYNOPSIS
    Kodo.psm1 with the functions of Private/ and Public/ written in, as UTF-8 bytes (with BOM).
    .DESCRIPTION
    Replaces the block between '# <kodo:functions>' and '# </kodo:functions>' (the loop that
    dot-sources each file) with the files' text, Private first, in the loop's order. Used by
    New-KodoAutomationPackage. Authenticode signature blocks of the pieces are left out: they
    sign the files, not the merged text (build.ps1 -Task Package signs the merged file itself).
    #>
    [CmdletBinding()]
    [OutputType([byte[]])]
    param([Parameter(Mandatory)][string]$ModuleFolder)

    $root = [System.IO.File]::ReadAllText([System.IO.Path]::Combine($ModuleFolder, 'Kodo.psm1'))
    $start = $root.IndexOf('# <kodo:functions>')
    $endMarker = '# </kodo:functions>'
    $end = $root.IndexOf($endMarker)
    if ($start -lt 0 -or $end -lt $start) {
        throw (New-KodoErrorRecord -ErrorId 'Kodo.InvalidModule' -Category InvalidData -TargetObject $ModuleFolder `
            -Message "Kodo.psm1 in '$ModuleFolder' has no '# <kodo:functions>' ... '# </kodo:functions>' block to write the functions into.")
    }
    $text = New-Object -TypeName System.Text.StringBuilder
    $null = $text.Append($root.Substring(0, $start))
    foreach ($folder in @('Private', 'Public')) {
        foreach ($file in @([System.IO.Directory]::GetFiles([System.IO.Path]::Combine($ModuleFolder, $folder), '*.ps1') | Sort-Object)) {
            $null = $text.Append("# ---- $folder/$([System.IO.Path]::GetFileName($file))").Append("`n")
            $null = $text.Append([System.IO.File]::ReadAllText($file).TrimEnd()).Append("`n")
        }
    }
    $null = $text.Append($root.Substring($end + $endMarker.Length).TrimStart("`r", "`n"))
    $merged = [regex]::Replace($text.ToString(), '(?ms)^# SIG # Begin signature block\r?$.*?^# SIG # End signature block\r?\n?', '')
    $encoding = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $true
    $preamble = $encoding.GetPreamble()
    $body = $encoding.GetBytes($merged)
    $bytes = New-Object -TypeName byte[] -ArgumentList ($preamble.Length + $body.Length)
    [Array]::Copy($preamble, 0, $bytes, 0, $preamble.Length)
    [Array]::Copy($body, 0, $bytes, $preamble.Length, $body.Length)
    # The comma keeps the array whole (not unrolled into the pipeline byte by byte).
    , $bytes
}
