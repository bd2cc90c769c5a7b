# A stand-in for Microsoft.PowerShell.SecretManagement (not installable on the test machines):
# Set-Secret, Get-Secret and Get-SecretVault with the real cmdlets' parameters (as documented at
# https://learn.microsoft.com/powershell/module/microsoft.powershell.secretmanagement/set-secret).
# Secrets stay in this process's memory, or, when KODO_TEST_VAULT_DIR is set (child processes of
# a test), in files under it: <dir>/<vault>/<name>, one JSON line per write
# ({"clientId","secret"}: the form Convergence.ps1's Assert-Converged reads). Register-TestSecretVault
# makes a vault; -Refuse makes one whose Set-Secret fails (a locked vault). Tests only: the real
# module is not verified.

$script:vaults = @{}

function Get-StoreDirectory { $env:KODO_TEST_VAULT_DIR }

function Register-TestSecretVault {
    param([Parameter(Mandatory)][string]$Name, [switch]$Refuse)
    $script:vaults[$Name] = @{ Refuse = [bool]$Refuse; Secrets = @{}; Calls = 0 }
    if (Get-StoreDirectory) {
        $dir = Join-Path (Get-StoreDirectory) $Name
        $null = New-Item -ItemType Directory -Path $dir -Force
        if ($Refuse) { Set-Content -LiteralPath (Join-Path $dir '.refuse') -Value 'locked' }
    }
}

function Get-TestVault([string]$Name) {
    if ($script:vaults.ContainsKey($Name)) { return $script:vaults[$Name] }
    if ((Get-StoreDirectory) -and $Name -and (Test-Path -LiteralPath (Join-Path (Get-StoreDirectory) $Name) -PathType Container)) {
        $script:vaults[$Name] = @{ Refuse = (Test-Path -LiteralPath (Join-Path (Join-Path (Get-StoreDirectory) $Name) '.refuse')); Secrets = @{}; Calls = 0 }
        return $script:vaults[$Name]
    }
    $null
}

function Get-SecretVault {
    [CmdletBinding()]
    param([Parameter(Position = 0)][string[]]$Name)
    $names = @($script:vaults.Keys)
    if (Get-StoreDirectory) { $names += @(Get-ChildItem -LiteralPath (Get-StoreDirectory) -Directory -ErrorAction SilentlyContinue | ForEach-Object Name) }
    foreach ($n in @($names | Select-Object -Unique)) {
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
    $v = Get-TestVault $Vault
    if (-not $v) { throw "Unable to find secret vault '$Vault'." }
    $v.Calls++
    if ($v.Refuse) { throw "The vault '$Vault' is locked." }
    if ($NoClobber -and $v.Secrets.ContainsKey($Name)) { throw "A secret with name $Name already exists in vault $Vault." }
    $value = if ($PSCmdlet.ParameterSetName -eq 'ObjectParameterSet') { $Secret } else { $SecureStringSecret }
    if ($PSCmdlet.ShouldProcess($Name, 'Write secret')) {
        $v.Secrets[$Name] = $value
        if ((Get-StoreDirectory) -and $value -is [System.Management.Automation.PSCredential]) {
            Add-Content -LiteralPath (Join-Path (Join-Path (Get-StoreDirectory) $Vault) $Name) -Value (@{ clientId = $value.UserName; secret = $value.GetNetworkCredential().Password } | ConvertTo-Json -Compress)
        }
    }
}

function Get-Secret {
    [CmdletBinding()]
    param([Parameter(Mandatory, Position = 0)][string]$Name, [Parameter(Position = 1)][string]$Vault)
    $v = Get-TestVault $Vault
    if ($v -and $v.Secrets.ContainsKey($Name)) { $v.Secrets[$Name] } else { Write-Error "The secret $Name was not found." }
}

function Get-TestSecretVaultCalls { param([string]$Name) (Get-TestVault $Name).Calls }

Export-ModuleMember -Function Register-TestSecretVault, Get-SecretVault, Set-Secret, Get-Secret, Get-TestSecretVaultCalls
