@{
    RootModule           = 'Kodo.psm1'
    ModuleVersion        = '0.1.0'
    GUID                 = '5d0c7a2e-8f4b-4f3e-9c61-0b7d2a4e9f15'
    Author               = 'Kodo contributors'
    CompanyName          = 'Kodo'
    Copyright            = '(c) Kodo contributors. MIT License.'
    Description          = 'Onboards a Microsoft 365 tenant for KODO for Cloud backup: registers the Entra ID app, its credentials and API permissions, grants admin consent and sets up SharePoint access, safely and repeatably. A Rust core does the Graph, token and SharePoint work.'
    CompatiblePSEditions = @('Desktop', 'Core')
    PowerShellVersion    = '5.1'
    # .NET Framework 4.7.2 runs the netstandard2.0 interop assembly without extra facades.
    DotNetFrameworkVersion = '4.7.2'
    FormatsToProcess     = @('Kodo.Format.ps1xml')
    FunctionsToExport    = @(
        'Add-KodoAppCredential'
        'Connect-Kodo'
        'Disconnect-Kodo'
        'Get-KodoApp'
        'Get-KodoContext'
        'Get-KodoOnboardingStatus'
        'Get-KodoSharePointTenant'
        'Get-KodoVersion'
        'Grant-KodoConsent'
        'Grant-KodoEwsAccess'
        'Grant-KodoPermissions'
        'Invoke-KodoOnboarding'
        'Merge-KodoOnboardingLedger'
        'New-KodoApp'
        'New-KodoAutomationPackage'
        'New-KodoConsentLink'
        'Remove-KodoApp'
        'Remove-KodoAppCredential'
        'Set-KodoSharePointTenant'
        'Start-KodoEmulator'
        'Stop-KodoEmulator'
        'Test-KodoApp'
        'Test-KodoConsent'
        'Test-KodoGdapAccess'
        'Test-KodoSharePointAccess'
        'Update-KodoAppCredential'
    )
    CmdletsToExport      = @()
    VariablesToExport    = @()
    AliasesToExport      = @('Grant-KodoPermission')
    PrivateData          = @{
        # Which permission manifest (-Manifest) fits which KODO: Seed (the default) is the table
        # of the KODO for Cloud manual's "Configure Microsoft 365 access" procedure
        # (Data/seed.json); Kodo43 is KODO for Cloud 4.3's list, Application permissions only,
        # Teams included (Data/kodo-4.3.json).
        PSData = @{
            # Only the platforms the release tests: macOS libraries are built but not yet tested.
            Tags         = @('Microsoft365', 'EntraID', 'AzureAD', 'Graph', 'SharePoint', 'Exchange', 'Backup', 'KODO', 'Onboarding', 'PSEdition_Desktop', 'PSEdition_Core', 'Windows', 'Linux')
            # Placeholder until the repository is published (README, "Packages").
            ProjectUri   = 'https://github.com/kodo-onboarding/kodo'
            LicenseUri   = 'https://github.com/kodo-onboarding/kodo/blob/main/LICENSE'
            ReleaseNotes = '0.1.0: first release. Onboards a Microsoft 365 tenant for KODO for Cloud as Microsoft 365 works today: the app, its credential within the app management policies, every permission and admin consent, the EWS allow list, optional Exchange RBAC mailbox scope, the audit, credential rotation, many-tenant runs and the Azure Automation package; the manual''s retired steps are reported with their dates. Permission manifests: -Manifest Seed (the manual''s table, default) or Kodo43 (KODO for Cloud 4.3). Ships the native library of each platform a release builds (Windows, Linux, macOS; x64 and arm64); tested on Windows x64 with PowerShell 5.1 and 7.4 and on Linux x64 with PowerShell 7. The tenant emulator is the separate module Kodo.Emulator.'
        }
    }
}
