# A stand-in for Microsoft.PowerShell.SecretManagement (not installable on the test machines):
# Set-Secret, Get-Secret and Get-SecretVault with the real cmdlets' parameters (as documented at
# https://learn.microsoft.com/powershell/module/microsoft.powershell.secretmanagement/set-secret),
# keeping secrets in this process's memory. Register-TestSecretVault makes a vault; -Refuse makes
# one whose Set-Secret fails (a locked vault). Tests only: the real module is not verified.

$script:vaults = @{}

function Register-TestSecretVault {
    param([Parameter(Mandatory)][string]$Name, [switch]$Refuse)
    $script:vaults[$Name] = @{ Refuse = [bool]$Refuse; Secrets = @{}; Calls = 0 }
}

function Get-SecretVault {
    [CmdletBinding()]
    param([Parameter(Position = 0)][string[]]$Name)
    foreach ($n in @($script:vaults.Keys)) {
        if (-not $Name -or $Name -contains $n) { [pscustomobject]@{ Name = $n; ModuleName = 'SecretManagementStandIn'; IsDefault = $false } }
    }
}

function Set-Secret {
    [CmdletBinding(SupportsShouldProcess, DefaultParameterSetName = 'SecureStringParameterSet')]
    param(
        [Parameter(Mandatory, Position = 0)][string]$Name,
        [Parameter(Position = 1)][string]$Vault,
        [Parameter(Position = 2)][hashtable]$Metadata,
        [Parameter(Mandatory, ParameterSetName = 'SecureStringParameterSet')][securestring]$SecureStringSecret,
        [Parameter(Mandatory, ParameterSetName = 'ObjectParameterSet')][object]$Secret,
        [switch]$NoClobber
    )
    $v = $script:vaults[$Vault]
    if (-not $v) { throw "Unable to find secret vault '$Vault'." }
    $v.Calls++
    if ($v.Refuse) { throw "The vault '$Vault' is locked." }
    if ($NoClobber -and $v.Secrets.ContainsKey($Name)) { throw "A secret with name $Name already exists in vault $Vault." }
    if ($PSCmdlet.ShouldProcess($Name, 'Write secret')) {
        $v.Secrets[$Name] = $(if ($PSCmdlet.ParameterSetName -eq 'ObjectParameterSet') { $Secret } else { $SecureStringSecret })
    }
}

function Get-Secret {
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0)][string]$Name, [Parameter(Position = 1)][string]$Vault)
    $v = $script:vaults[$Vault]
    if ($v -and $v.Secrets.ContainsKey($Name)) { $v.Secrets[$Name] } else { Write-Error "The secret $Name was not found." }
}

function Get-TestSecretVaultCalls { param([string]$Name) $script:vaults[$Name].Calls }

Export-ModuleMember -Function Register-TestSecretVault, Get-SecretVault, Set-Secret, Get-Secret, Get-TestSecretVaultCalls
