#!/usr/bin/env bash
# Fetches MaxMind's official test databases (GeoIP2-City-Test.mmdb,
# GeoLite2-ASN-Test.mmdb, …, and the malformed files under bad-data/;
# Apache-2.0 or MIT, see LICENSE-* beside them) from the pinned sdist of
# the PyPI package maxminddb 3.2.0, checks its sha256, and unpacks them
# once into a cache folder. Prints that folder (the tests read it from
# SC_TEST_GEOIP_DIR). A no-op once in place.
set -euo pipefail

version=3.2.0
sdist="maxminddb-$version.tar.gz"
sha256=d28e0073fd1dd637c8b95947bc864b5625eca9f8f2db1538145e33b2a1cd4b92
cache="${SC_TEST_GEOIP_CACHE:-$HOME/.cache/securityclaw/maxmind-test-data-$version}"

if [[ ! -f "$cache/.complete" ]]; then
  work="$(mktemp -d "${TMPDIR:-/tmp}/sc-geoip.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --no-binary maxminddb "maxminddb==$version" -d "$work" >&2
  echo "$sha256  $work/$sdist" | sha256sum --check --quiet >&2
  mkdir -p "$work/out"
  tar -xzf "$work/$sdist" -C "$work/out" --strip-components=3 \
    "maxminddb-$version/tests/data/test-data" \
    "maxminddb-$version/tests/data/bad-data" \
    "maxminddb-$version/tests/data/LICENSE-APACHE" \
    "maxminddb-$version/tests/data/LICENSE-MIT"
  rm -rf "$cache"
  mkdir -p "$(dirname "$cache")"
  mv "$work/out" "$cache"
  touch "$cache/.complete"
fi
echo "$cache"
