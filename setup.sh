#!/usr/bin/env bash
# One-time set-up of a Linux machine for building and testing Kodo, offline:
#   - cargo uses the vendored crates (../shared/tools/offline-crates), when that folder exists;
#   - pwsh 7.6.9 as a .NET global tool, unless a pwsh is already on PATH;
#   - Pester 5.7.1 from NuGet into .tools/ (the PowerShell Gallery is not needed);
#   - CLI for Microsoft 365 from npm into .tools/cli-m365 (tests/clients/cli-m365);
#   - osslsigncode and openssl (Debian) for signing the packages.
# Safe to run again. Afterwards: export PATH="$PATH:$HOME/.dotnet/tools"
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$root"

# Cross builds of the native library (win-x64, linux-arm64) and what runs their tests here
# (wine64, qemu-user), from Debian's own packages (../shared/docs/cross-build.md). Installed
# before the vendored crates are set up: offline-crates merges rust-web-src's own crates in.
# KODO_SKIP_CROSS=1 leaves them out (build.ps1 then builds and tests linux-x64 only).
cross_packages="rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross wine64 qemu-user"
if [ "${KODO_SKIP_CROSS:-0}" != 1 ] && command -v apt-get >/dev/null 2>&1; then
  missing=""
  for p in $cross_packages; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "setup: installing the cross toolchains and test runners:$missing"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
  echo "setup: cross builds for win-x64 (mingw, wine64) and linux-arm64 (aarch64 gcc, qemu-user) available"
else
  echo "setup: cross toolchains not installed (KODO_SKIP_CROSS or no apt-get): linux-x64 only"
fi

# Authenticode signing and its check (build.ps1 -Task Package -SigningCertificate; the package
# tests sign with a throwaway certificate): osslsigncode and openssl, from Debian.
if command -v apt-get >/dev/null 2>&1 && ! { command -v osslsigncode && command -v openssl; } >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing osslsigncode and openssl"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends osslsigncode openssl >/dev/null
fi

if [ -x ../shared/tools/offline-crates ]; then
  ../shared/tools/offline-crates >/dev/null
  echo "setup: cargo uses the vendored crates"
fi

export PATH="$PATH:$HOME/.dotnet/tools"
if ! command -v pwsh >/dev/null 2>&1; then
  echo "setup: installing PowerShell 7.6.9 (dotnet tool)"
  dotnet tool install --global PowerShell --version 7.6.9 >/dev/null
fi
echo "setup: $(pwsh -NoProfile -Command '"pwsh " + $PSVersionTable.PSVersion')"

pester_version=5.7.1
if [ ! -f ".tools/nuget/pester/$pester_version/tools/Pester.psd1" ]; then
  echo "setup: restoring Pester $pester_version from NuGet"
  mkdir -p .tools/pester-restore
  cat > .tools/pester-restore/restore.csproj <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>netstandard2.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="Pester" Version="[$pester_version]" /></ItemGroup>
</Project>
XML
  dotnet restore .tools/pester-restore/restore.csproj --packages .tools/nuget >/dev/null
fi
echo "setup: Pester $pester_version in .tools/nuget/pester/$pester_version/tools"

# CLI for Microsoft 365 (npm), a client nobody here wrote, run against the emulator by
# tests/pester/CliMicrosoft365.Tests.ps1. Pinned by tests/clients/cli-m365/package-lock.json.
if [ ! -x .tools/cli-m365/node_modules/.bin/m365 ] || ! cmp -s tests/clients/cli-m365/package-lock.json .tools/cli-m365/package-lock.json; then
  echo "setup: installing CLI for Microsoft 365 (npm ci) into .tools/cli-m365"
  mkdir -p .tools/cli-m365
  cp tests/clients/cli-m365/package.json tests/clients/cli-m365/package-lock.json .tools/cli-m365/
  (cd .tools/cli-m365 && npm ci --no-audit --no-fund --ignore-scripts >/dev/null)
fi
echo "setup: CLI for Microsoft 365 $(node -p "require('./.tools/cli-m365/node_modules/@pnp/cli-microsoft365/package.json').version")"
