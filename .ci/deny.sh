#!/usr/bin/env bash
# Audits the Rust dependencies offline with cargo-deny (advisories, licences, bans, sources).
# cargo-deny is built from the vendored crates into .tools/cargo-deny on first use (about two
# minutes); the RustSec advisory database is the snapshot ../shared/tools/advisory-db unpacks,
# linked at .tools/advisory-dbs where deny.toml looks. Exits non-zero on any finding.
#
#   1. the workspace against deny.toml (its exceptions carry reasons and dates);
#   2. the shipped library alone (kodo, no dev-dependencies) against .ci/deny-shipped.toml, which
#      excuses no advisory: an advisory that reaches what Kodo ships fails here;
#   3. a canary: the same strict check on the emulator must find RUSTSEC-2023-0071 (rsa), or the
#      database is empty or unread and checks 1-2 proved nothing;
#   4. no private-key code from the rsa crate in the shipped library's tree (cargo tree).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version=0.20.2
deny=.tools/cargo-deny/bin/cargo-deny
if [ ! -x "$deny" ] || ! "$deny" --version | grep -q " $version\$"; then
  echo "deny: building cargo-deny $version from the vendored crates into .tools/cargo-deny"
  cargo install cargo-deny --version "$version" --locked --offline --quiet --root .tools/cargo-deny
fi

shared=${KODO_SHARED:-../shared}
db=$("$shared/tools/advisory-db")
mkdir -p .tools
ln -sfn "$db" .tools/advisory-dbs
snapshot=$(ls -d .tools/advisory-dbs/advisory-db-*/ | head -n 1)
echo "deny: advisory database snapshot of $(git -C "$snapshot" log -1 --format=%cs)"

echo "deny: 1. workspace (deny.toml)"
"$deny" --offline check --hide-inclusion-graph

echo "deny: 2. the shipped library, no exception (.ci/deny-shipped.toml)"
"$deny" --offline --manifest-path Cargo.toml --config .ci/deny-shipped.toml check advisories

echo "deny: 3. canary: the strict check must catch rsa's advisory in the emulator"
if canary=$("$deny" --offline --manifest-path crates/kodo-emulator/Cargo.toml --config .ci/deny-shipped.toml check advisories 2>&1); then
  echo "deny: the strict check passed the emulator, which uses rsa 0.9 (RUSTSEC-2023-0071): the advisory database was not read" >&2
  exit 1
fi
grep -q "RUSTSEC-2023-0071" <<<"$canary" || { echo "$canary" >&2; echo "deny: the canary failed for another reason" >&2; exit 1; }

echo "deny: 4. rsa is not in the shipped library's tree"
if cargo tree --offline --locked -p kodo -e normal --target all --prefix none --format '{p}' | grep -q '^rsa '; then
  cargo tree --offline --locked -i rsa -e normal --target all -p kodo >&2
  echo "deny: the shipped library depends on the rsa crate (RUSTSEC-2023-0071); sign through ring" >&2
  exit 1
fi
echo "deny: ok"
