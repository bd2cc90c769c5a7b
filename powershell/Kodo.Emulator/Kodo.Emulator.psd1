@{
    RootModule           = 'Kodo.Emulator.psm1'
    # Always the version of the Kodo module it belongs with (build.ps1 -Task Package checks).
    ModuleVersion        = '0.1.0'
    GUID                 = '24c4ec28-5200-436a-b0a7-434093eea43c'
    Author               = 'Kodo contributors'
    CompanyName          = 'Kodo'
    Copyright            = '(c) 2026 Kodo contributors. MIT License.'
    Description          = 'The local tenant emulator (Entra ID, Microsoft Graph, SharePoint and Exchange Online endpoints on loopback HTTPS) for trying and testing the Kodo module without a Microsoft 365 tenant. Kodo''s Start-KodoEmulator finds and starts it; this module only carries the program.'
    CompatiblePSEditions = @('Desktop', 'Core')
    PowerShellVersion    = '5.1'
    FunctionsToExport    = @('Get-KodoEmulatorPath')
    CmdletsToExport      = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('Kodo', 'KODO', 'Microsoft365', 'Emulator', 'Testing', 'PSEdition_Desktop', 'PSEdition_Core', 'Windows', 'Linux')
            ProjectUri   = 'https://github.com/kodo-onboarding/kodo'
            LicenseUri   = 'https://github.com/kodo-onboarding/kodo/blob/main/LICENSE'
            ReleaseNotes = '0.1.0: first release; the kodo-emulator program of each platform a release builds, found by Start-KodoEmulator of Kodo 0.1.0.'
        }
    }
}
