function Test-KodoApp {
    <#
    .SYNOPSIS
    Audits whether KODO's access to the tenant is still complete: permissions, consent, credentials, EWS access, retired items.

    .DESCRIPTION
    Read-only (the live check only reads). For each manifest row: required, configured (declared on the app) and consented
    (an app role assignment, or the tenant-wide delegated grant). For each credential: its
    expiry, a warning inside -WarnDays; one that has expired is a failure when no valid one is
    left beside it, else a warning naming the Remove-KodoAppCredential command. The
    organization's Exchange Web Services settings: EWS on and the app on the allow list
    (EwsAllowedAppIDs), since KODO reads mail through EWS; the audit warns from 90 days before EWS
    stops for good (2027-04-01). LegacyAuthProtocolsEnabled: step 17 is retired (2026-05-01), so
    Off passes and On is a warning. Retired items (Azure AD Graph, the ACS
    appinv.aspx grant) with their dates and what replaced them.

    The live check (with -ClientSecret, a certificate, or -Live) signs in as the app with each
    credential given, checks that the token for Microsoft Graph, Exchange Online and SharePoint
    carries every application role the manifest requires, and makes one harmless read per API
    Kodo calls: GET /v1.0/organization on Graph, GET /_api/web on the root SharePoint site, and,
    with -EwsMailbox, an EWS GetFolder of that mailbox's folder root (denied while the app is on
    the allow list is "configured, not yet effective": Exchange applies changes within 24 hours).
    SharePoint refuses app-only tokens from a client secret; that is a warning unless the
    certificate reaches SharePoint in the same run.

    One object type per call. By default it returns a Kodo.AppCheck per finding (Area, Check,
    Status Pass/Warn/Fail/Info, Detail): only those that are not Pass or Info, or every check
    with -Detailed; easy to pipe to Where-Object, Export-Csv or ConvertTo-Json. The overall
    result is shown to the person at the console (an information message tagged
    Kodo.AppTestSummary), not mixed into the objects. -Summary returns one Kodo.AppTestSummary
    instead (Passed, Failures, Warnings, Checks, and the Findings): what a script or a runbook
    tests.

    .PARAMETER InputObject
    A Kodo.App (from New-KodoApp).

    .PARAMETER AppId
    The Application (client) ID of the app.

    .PARAMETER Manifest
    The built-in manifest to check against: Seed (default) or Kodo43.

    .PARAMETER ManifestPath
    Your own manifest file.

    .PARAMETER WarnDays
    Credentials that expire within this many days are a warning (default 30).

    .PARAMETER Detailed
    Return every check, not only the findings (with -Summary: in Findings).

    .PARAMETER Summary
    Return one Kodo.AppTestSummary (the overall result, with the findings in Findings) instead
    of the Kodo.AppCheck objects.

    .PARAMETER ClientSecret
    A client secret of the app, for the live check: Kodo signs in as the app with it.

    .PARAMETER CertificatePath
    A PFX or PEM file of the app's certificate (with its private key), for the live check.

    .PARAMETER CertificatePassword
    The password of the PFX file given with -CertificatePath.

    .PARAMETER Certificate
    An X509Certificate2 of the app with its private key, for the live check.

    .PARAMETER CertificateThumbprint
    The thumbprint of the app's certificate in Cert:\CurrentUser\My or Cert:\LocalMachine\My,
    for the live check.

    .PARAMETER EwsMailbox
    A mailbox (SMTP address) for the live EWS check: Kodo reads its folder root through Exchange
    Web Services as the app, which proves that the organization's EWS settings admit KODO.

    .PARAMETER MailboxScope
    The administrative unit KODO's mailbox access must be limited to: each mailbox permission
    passes only as an Exchange role scoped to that unit, and fails while a tenant-wide grant of it
    exists in Microsoft Entra ID (which would reach every mailbox). Without it, mailbox
    permissions held as Exchange roles instead of Entra grants pass too.

    .PARAMETER Live
    Run the live check with the client secret of the piped Kodo.App (as New-KodoApp -NewSecret
    returns it). Giving -ClientSecret or a certificate runs it too.

    .EXAMPLE
    Test-KodoApp -AppId $clientId

    Lists what needs attention and the overall result.

    .EXAMPLE
    if (-not (Test-KodoApp -AppId $clientId -Summary).Passed) { throw 'KODO access is incomplete' }

    In a runbook: one object with the overall result.

    .EXAMPLE
    Test-KodoApp -AppId $clientId -Detailed | Export-Csv ./kodo-audit.csv -NoTypeInformation

    Writes the full audit to a CSV file.

    .EXAMPLE
    Test-KodoApp -AppId $clientId -CertificatePath ./kodo.pfx -CertificatePassword $pfxPassword

    Also signs in as the app with its certificate and reads from Graph and SharePoint.

    .OUTPUTS
    Kodo.AppCheck, Kodo.AppTestSummary
    #>
    [CmdletBinding(DefaultParameterSetName = 'AppId')]
    [OutputType('Kodo.AppCheck', 'Kodo.AppTestSummary')]
    param(
        [Parameter(Mandatory, ValueFromPipeline, ParameterSetName = 'InputObject')]
        [PSTypeName('Kodo.App')]
        $InputObject,

        [Parameter(Mandatory, Position = 0, ParameterSetName = 'AppId')]
        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$AppId,

        [ValidateSet('Seed', 'Kodo43')]
        [string]$Manifest = 'Seed',

        [string]$ManifestPath,

        [ValidateRange(1, 3650)]
        [int]$WarnDays = 30,

        [switch]$Detailed,

        [switch]$Summary,

        [System.Security.SecureString]$ClientSecret,

        [ValidateNotNullOrEmpty()]
        [string]$CertificatePath,

        [System.Security.SecureString]$CertificatePassword,

        [System.Security.Cryptography.X509Certificates.X509Certificate2]$Certificate,

        [ValidatePattern('^[0-9a-fA-F]{40}$')]
        [string]$CertificateThumbprint,

        [ValidatePattern('^[^@\s]+@[^@\s]+$')]
        [string]$EwsMailbox,

        [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
        [string]$MailboxScope,

        [switch]$Live
    )

    process {
        try {
            $id = if ($InputObject) { [string]$InputObject.ClientId } else { $AppId }
            $manifestObject = Get-KodoManifest -Name $Manifest -Path $ManifestPath
            $secret = $ClientSecret
            if (-not $secret -and $Live -and $InputObject -and $InputObject.PSObject.Properties['ClientSecret']) { $secret = $InputObject.ClientSecret }
            $credentials = Get-KodoAppSignIn -ClientId $id -ClientSecret $secret -CertificateThumbprint $CertificateThumbprint -Certificate $Certificate `
                -CertificatePath $CertificatePath -CertificatePassword $CertificatePassword -SessionState $ExecutionContext.SessionState
            $signIn = $credentials.SignIn
            $signers = $credentials.Signers
            $credentials = $null
            if ($Live -and $signIn.Count -eq 0) {
                throw (New-KodoErrorRecord -ErrorId 'Kodo.NoSignInCredential' -Category InvalidArgument -TargetObject $id `
                    -Message 'The live check needs a credential of the app: -ClientSecret, -CertificatePath, -Certificate or -CertificateThumbprint (or a Kodo.App from New-KodoApp -NewSecret).')
            }
            $request = [ordered]@{ kind = 'app.test'; appId = $id; manifest = $manifestObject; warnDays = $WarnDays }
            if ($signIn.Count -gt 0) { $request['signIn'] = @($signIn) }
            if ($EwsMailbox) { $request['ewsMailbox'] = $EwsMailbox }
            if ($MailboxScope) { $request['mailboxScope'] = $MailboxScope }
            try {
                $r = Invoke-KodoNative -Cmdlet $PSCmdlet -Request $request -SigningCertificate $signers
            } finally {
                $request = $null
                $signIn = $null
            }
            $audit = ConvertTo-KodoAppCheck -Result $r -AppId $id -Detailed:$Detailed
            $checks = $audit.Checks
            $overall = $audit.Summary
            if ($Summary) {
                Add-Member -InputObject $overall -NotePropertyName Findings -NotePropertyValue $checks
                $overall
            } else {
                $checks
                $verdict = if ($overall.Passed) { 'passed' } else { 'FAILED' }
                $line = New-Object -TypeName System.Management.Automation.HostInformationMessage
                $line.Message = "Test-KodoApp $($id): $verdict ($($overall.Failures) failed, $($overall.Warnings) warnings, $($overall.Checks) checks). -Summary returns this as an object."
                $PSCmdlet.WriteInformation($line, [string[]]@('PSHOST', 'Kodo.AppTestSummary'))
            }
        } catch {
            $PSCmdlet.ThrowTerminatingError($_)
        }
    }
}
