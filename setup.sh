#!/usr/bin/env bash
# One-time set-up of a Linux machine for building and testing Kodo, offline:
#   - cargo uses the vendored crates (../shared/tools/offline-crates), when that folder exists;
#   - pwsh 7.6.9 as a .NET global tool, unless a pwsh is already on PATH;
#   - Pester 5.7.1 from NuGet into .tools/ (the PowerShell Gallery is not needed).
# Safe to run again. Afterwards: export PATH="$PATH:$HOME/.dotnet/tools"
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$root"

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
