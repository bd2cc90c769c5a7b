function Get-KodoVersion {
    <#
    .SYNOPSIS
    Gets the versions of the Kodo module, its native library and the protocol between them.

    .DESCRIPTION
    Loads Kodo's native library if it is not loaded yet, asks it for its version through the
    same request path every Kodo command uses, and returns one Kodo.Version object: the
    PowerShell module version, the native library version, the protocol version each side
    speaks, the platform the library was built for and the path it was loaded from.

    A module and a native library from different builds are reported with a warning; a
    protocol mismatch is an error (Kodo.ProtocolMismatch), raised before any request is sent.

    .EXAMPLE
    Get-KodoVersion

    Shows the versions as a table.

    .EXAMPLE
    (Get-KodoVersion).NativeLibraryPath

    Shows which native library file this session loaded (useful with KODO_NATIVE_LIBRARY).

    .EXAMPLE
    Get-KodoVersion | ConvertTo-Json

    Reports the versions in a form a support ticket or a runbook log can carry.

    .OUTPUTS
    Kodo.Version
    #>
    [CmdletBinding()]
    [OutputType('Kodo.Version')]
    param()

    try {
        $library = Invoke-KodoNative -Cmdlet $PSCmdlet -LibraryInfo
        $info = Invoke-KodoNative -Cmdlet $PSCmdlet -Request @{ kind = 'version' }
        $moduleVersion = $MyInvocation.MyCommand.Module.Version.ToString()

        if ($info.libraryVersion -ne $moduleVersion) {
            Write-Warning -Message ("The Kodo module is version $moduleVersion but its native library is version $($info.libraryVersion): they come from different builds. Rebuild with ./build.ps1.")
        }

        [pscustomobject]@{
            PSTypeName            = 'Kodo.Version'
            ModuleVersion         = $moduleVersion
            NativeVersion         = [string]$info.libraryVersion
            ProtocolVersion       = [int]$info.protocolVersion
            ModuleProtocolVersion = [int]$script:KodoProtocolVersion
            Target                = [string]$info.target
            BuildProfile          = [string]$info.profile
            NativeLibraryPath     = $library.Path
            PSVersion             = $PSVersionTable.PSVersion.ToString()
            PSEdition             = [string]$PSVersionTable.PSEdition
        }
    } catch {
        $PSCmdlet.ThrowTerminatingError($_)
    }
}
