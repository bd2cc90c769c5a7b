function Save-KodoTenantCredential {
    <#
    .SYNOPSIS
    Hands one tenant's new credential (Invoke-KodoOnboarding -TenantId) to where the admin chose: a client secret into the SecretManagement vault, a certificate's PFX into the folder, else on the result. Sets the result's CredentialLocation; returns a Kodo.SecretVaultFailed or Kodo.CertificateNotSaved ErrorRecord when that place refused it (the credential then stays on the result, so the admin still holds it).
    .DESCRIPTION
    The name in a vault or folder is Kodo-<directory id> (the GUID the tenant's sign-in returned),
    however the tenant was given: Azure Key Vault (Az.KeyVault's SecretManagement vault) takes
    only letters, digits and dashes, so 'Kodo-contoso.onmicrosoft.com' would be refused there.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]$Result,
        [Parameter(Mandatory)][string]$TenantId,
        # The tenant's id as its sign-in named it, when known.
        [string]$DirectoryId,
        # SecretVault, CertificateFolder, CertificatePassword (Invoke-KodoOnboarding's sink).
        [System.Collections.IDictionary]$Sink,
        # The certificate made for this tenant, when its app got it.
        [System.Security.Cryptography.X509Certificates.X509Certificate2]$Certificate
    )
    $guid = [guid]::Empty
    $name = if ([guid]::TryParse($DirectoryId, [ref]$guid)) { "Kodo-$DirectoryId" } else { "Kodo-$TenantId" }
    if ($Certificate) {
        $location = 'resultObject'
        $path = $null
        if ($Sink.CertificateFolder) { $path = [System.IO.Path]::Combine([string]$Sink.CertificateFolder, "$name.pfx") }
        try {
            Export-KodoCertificatePfx -Target $Result -Certificate $Certificate -Password $Sink.CertificatePassword -Path $path -SessionState $ExecutionContext.SessionState
            if ($path) { $location = "PFX file '$path'" }
        } catch {
            Export-KodoCertificatePfx -Target $Result -Certificate $Certificate -Password $Sink.CertificatePassword -SessionState $ExecutionContext.SessionState
            New-KodoErrorRecord -ErrorId 'Kodo.CertificateNotSaved' -Category WriteError -TargetObject $TenantId `
                -Message "Tenant ${TenantId}: the new certificate's PFX could not be written to '$path' ($($_.Exception.Message)); it is on the result (CertificatePfx) instead."
        }
        Add-Member -InputObject $Result -NotePropertyName CredentialLocation -NotePropertyValue $location -Force
    }
    if ($Result.PSObject.Properties['ClientSecret'] -and $Result.ClientSecret) {
        $location = 'resultObject'
        if ($Sink -and $Sink.SecretVault) {
            $vault = [string]$Sink.SecretVault
            # The vault holds it as a PSCredential (user name = client id); the result then
            # carries only where it is.
            try {
                $credential = New-Object -TypeName System.Management.Automation.PSCredential -ArgumentList @([string]$Result.ClientId, $Result.ClientSecret)
                Set-Secret -Name $name -Secret $credential -Vault $vault -ErrorAction Stop -WhatIf:$false -Confirm:$false
                $Result.ClientSecret = $null
                $location = "SecretManagement vault '$vault', secret '$name'"
            } catch {
                New-KodoErrorRecord -ErrorId 'Kodo.SecretVaultFailed' -Category WriteError -TargetObject $TenantId `
                    -Message "Tenant ${TenantId}: the new client secret could not be stored in the vault '$vault' as '$name' ($($_.Exception.Message)); it is on the result (ClientSecret) instead."
            }
        }
        Add-Member -InputObject $Result -NotePropertyName CredentialLocation -NotePropertyValue $location -Force
    }
}
