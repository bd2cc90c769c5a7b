function Get-KodoApp {
    <#
    .SYNOPSIS
    Finds the app registrations that serve KODO and shows, for each, its credentials and their expiry, missing permissions and consent, SharePoint and EWS state, and one status.

    .DESCRIPTION
    Read-only. By -AppId or -DisplayName, or with neither every app in the tenant that looks like
    KODO's: the ones Kodo made (tagged KodoManaged) and the ones made by hand from the manual
    (declaring at least half of the manifest's permissions; IdentifiedBy says which). Each app is
    audited as Test-KodoApp audits it (without a live sign-in) against the manifest, and comes
    back as one Kodo.AppStatus object: Status (Pass, Warn or Fail), Credentials (type, expiry,
    days left), DaysLeft (of the credential that lasts longest), MissingPermissions (not
    declared or not consented), SharePoint (a certificate is what SharePoint app-only needs),
    Ews (the organization's EWS allow list), and every check in Checks.

    The objects pipe into Test-KodoApp (add -Live and a credential for a sign-in as the app),
    Grant-KodoPermissions, Update-KodoAppCredential and Remove-KodoApp.

    Listing every app reads all of the tenant's app registrations (page by page); a tenant with
    many apps takes longer than -AppId or -DisplayName.

    .PARAMETER AppId
    The app (client) id of one app.

    .PARAMETER DisplayName
    The display name of the apps to show (exact, as Entra ID compares it).

    .PARAMETER Manifest
    The permission manifest the apps are checked against: Seed (the manual's list, default) or Kodo43.

    .PARAMETER ManifestPath
    A manifest file of your own instead.

    .PARAMETER WarnDays
    Credentials expiring within this many days make the status Warn (default 30).

    .EXAMPLE
    Get-KodoApp

    Every KODO app in the tenant, with its status and how long its credentials last.

    .EXAMPLE
    Get-KodoApp -DisplayName 'KODO for Cloud backup' | Format-List

    One app in full: credentials, missing permissions, SharePoint and EWS state.

    .EXAMPLE
    Get-KodoApp | Where-Object DaysLeft -lt 30 | Update-KodoAppCredential

    Rotates the secret of every KODO app whose credentials run out within a month.

    .OUTPUTS
    Kodo.AppStatus
    #>
    [CmdletBinding(DefaultParameterSetName = 'All')]
    [OutputType('Kodo.AppStatus')]
    param(
        [Parameter(Mandatory, Position = 0, ParameterSetName = 'AppId', ValueFromPipelineByPropertyName)]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$AppId,

        [Parameter(Mandatory, ParameterSetName = 'DisplayName')]
        [ValidateNotNullOrEmpty()]
        [string]$DisplayName,

        [ValidateSet('Seed', 'Kodo43')]
        [string]$Manifest = 'Seed',

        [string]$ManifestPath,

        [ValidateRange(1, 3650)]
        [int]$WarnDays = 30
    )

    process {
        try {
            $request = [ordered]@{ kind = 'app.find'; manifest = (Get-KodoManifest -Name $Manifest -Path $ManifestPath); warnDays = $WarnDays }
            if ($AppId) { $request['appId'] = $AppId }
            if ($DisplayName) { $request['displayName'] = $DisplayName }
            $r = Invoke-KodoNative -Cmdlet $PSCmdlet -Request $request
            if ($AppId -and @($r.apps).Count -eq 0) {
                throw (New-KodoErrorRecord -ErrorId 'Kodo.NotFound' -Category ObjectNotFound -TargetObject $AppId `
                    -Message "No app registration with appId $AppId exists in this tenant.")
            }
            ConvertTo-KodoAppStatus -Result $r
        } catch {
            $PSCmdlet.ThrowTerminatingError($_)
        }
    }
}
