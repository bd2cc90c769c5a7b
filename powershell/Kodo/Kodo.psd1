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
        'Get-KodoContext'
        'Get-KodoSharePointTenant'
        'Get-KodoVersion'
        'Grant-KodoEwsAccess'
        'Grant-KodoPermissions'
        'Invoke-KodoOnboarding'
        'New-KodoApp'
        'New-KodoAutomationPackage'
        'Remove-KodoApp'
        'Remove-KodoAppCredential'
        'Set-KodoSharePointTenant'
        'Start-KodoEmulator'
        'Stop-KodoEmulator'
        'Test-KodoApp'
        'Test-KodoSharePointAccess'
        'Update-KodoAppCredential'
    )
    CmdletsToExport      = @()
    VariablesToExport    = @()
    AliasesToExport      = @('Grant-KodoPermission')
    PrivateData          = @{
        PSData = @{
            Tags       = @('Microsoft365', 'EntraID', 'AzureAD', 'Graph', 'SharePoint', 'Backup', 'KODO', 'Onboarding', 'PSEdition_Desktop', 'PSEdition_Core', 'Windows', 'Linux', 'MacOS')
            LicenseUri = 'https://opensource.org/licenses/MIT'
        }
    }
}
