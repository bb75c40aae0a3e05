#!/usr/bin/env bash
# Provision the two search servers the integration tests run against, from PyPI:
#   osmem-server==0.1.6  one Go binary speaking the OpenSearch 3.8 REST API
#   noida-db==0.2.3      one binary speaking (among others) the Elasticsearch 8.15 REST API
#
# They go into a cached virtualenv (default ~/.cache/securityclaw/test-venv,
# override with SC_TEST_VENV). The first run creates it and pip-installs the
# pins; later runs only compare a stamp file and return in milliseconds.
#
# Output (stdout), one KEY=absolute-path line per server, so callers can
# `eval "$(tests/servers/install.sh)"` or parse the lines:
#   OSMEM_SERVER_BIN=/…/site-packages/osmem_server/bin/osmem-server
#   NOIDA_DB_BIN=/…/site-packages/noida_db/noida-db
# With an argument, prints only that path:  tests/servers/install.sh osmem | noida
#
# The paths are the real server binaries, not Python wrappers: the `noida-db`
# console script is a Python shim that runs the binary as a child process, so
# signalling the shim would orphan the server. Start them as:
#   osmem-server -addr 127.0.0.1:PORT -no-stdin-watch -no-ja
#   noida-db start --only elasticsearch --elasticsearch-port PORT --data-dir DIR
# (see scripts/TEST-SERVERS.md).
#
# Environment:
#   SC_TEST_VENV    venv location (default $HOME/.cache/securityclaw/test-venv)
#   SC_TEST_PYTHON  interpreter used to create the venv (default python3)
# Progress/diagnostics go to stderr; stdout carries only the paths.
set -euo pipefail

OSMEM_PIN="osmem-server==0.1.6"
NOIDA_PIN="noida-db==0.2.3"

VENV="${SC_TEST_VENV:-${HOME}/.cache/securityclaw/test-venv}"
PYTHON="${SC_TEST_PYTHON:-python3}"
STAMP="${VENV}/.securityclaw-pins"
WANT="${OSMEM_PIN} ${NOIDA_PIN}"

which_one="${1:-all}"
case "${which_one}" in
  all | osmem | noida) ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: $0 [osmem|noida]" >&2
    exit 2
    ;;
esac

log() { echo "test-servers: $*" >&2; }

# Locate both binaries inside the venv; sets OSMEM_BIN / NOIDA_BIN, fails if absent.
find_bins() {
  OSMEM_BIN=""
  NOIDA_BIN=""
  local sp
  for sp in "${VENV}"/lib/python3*/site-packages; do
    [[ -f "${sp}/osmem_server/bin/osmem-server" ]] && OSMEM_BIN="${sp}/osmem_server/bin/osmem-server"
    [[ -f "${sp}/noida_db/noida-db" ]] && NOIDA_BIN="${sp}/noida_db/noida-db"
  done
  [[ -n "${OSMEM_BIN}" && -n "${NOIDA_BIN}" ]]
}

emit() {
  case "${which_one}" in
    osmem) echo "${OSMEM_BIN}" ;;
    noida) echo "${NOIDA_BIN}" ;;
    all)
      echo "OSMEM_SERVER_BIN=${OSMEM_BIN}"
      echo "NOIDA_DB_BIN=${NOIDA_BIN}"
      ;;
  esac
}

fast_path_ok() {
  [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANT}" ]] &&
    find_bins && [[ -x "${OSMEM_BIN}" && -x "${NOIDA_BIN}" ]]
}

# Fast path: no Python started, no lock taken.
if fast_path_ok; then
  emit
  exit 0
fi

# Slow path, serialised so that parallel test processes don't race on the venv.
mkdir -p "$(dirname "${VENV}")"
exec 9>"${VENV}.lock"
flock 9

if ! fast_path_ok; then
  # A venv whose interpreter no longer runs (Python moved/upgraded) is rebuilt.
  if [[ -d "${VENV}" ]] && ! "${VENV}/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "removing broken venv ${VENV}"
    rm -rf "${VENV}"
  fi
  if [[ ! -x "${VENV}/bin/python" ]]; then
    log "creating venv ${VENV} with $("${PYTHON}" --version 2>&1)"
    "${PYTHON}" -m venv "${VENV}"
  fi
  rm -f "${STAMP}"
  log "installing ${WANT}"
  "${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-input "${OSMEM_PIN}" "${NOIDA_PIN}" >&2
  # Double-check the installed versions are exactly the pins.
  frozen="$("${VENV}/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null)"
  for pin in ${WANT}; do
    if ! grep -qix "${pin}" <<<"${frozen}"; then
      log "error: ${pin} not installed in ${VENV} (pip freeze: $(tr '\n' ' ' <<<"${frozen}"))"
      exit 1
    fi
  done
  if ! find_bins; then
    log "error: server binaries not found in ${VENV}"
    exit 1
  fi
  # noida's own Python shim chmods its binary at run time; we bypass the shim, so ensure +x here.
  chmod 0755 "${OSMEM_BIN}" "${NOIDA_BIN}"
  echo "${WANT}" >"${STAMP}"
  log "ready"
fi

emit
