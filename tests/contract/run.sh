#!/usr/bin/env bash
# The API contract, checked by schemathesis against the service's own
# `/api/openapi.json`: every operation, with generated valid and invalid
# inputs (bounded: a fixed number of examples per operation, a fixed seed),
# in both auth modes the service has:
#   - token mode: a token configured, every request carries it;
#   - open mode: loopback without a token.
# Fails on any failure schemathesis reports (undocumented statuses,
# responses that do not match their schema, invalid input accepted, 5xx).
#
# Usage: tests/contract/run.sh PATH/TO/sc-host
# Environment: SC_CONTRACT_EXAMPLES (default 30) examples per operation;
#              SC_TEST_VENV-style cache at SC_CONTRACT_VENV.
set -euo pipefail

sc_host="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
examples="${SC_CONTRACT_EXAMPLES:-30}"
pin="schemathesis==4.32.5"
venv="${SC_CONTRACT_VENV:-${HOME}/.cache/securityclaw/contract-venv}"

# The pinned schemathesis in a cached venv (a stamp names the pin).
if [[ ! -x "$venv/bin/schemathesis" || "$(cat "$venv/.pin" 2>/dev/null)" != "$pin" ]]; then
  echo "contract: installing $pin into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$pin" >&2
  echo "$pin" >"$venv/.pin"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/sc-contract.XXXXXX")"
# `start` runs in a command substitution (a subshell), so the services'
# pids go to a file the cleanup reads, not to a variable it would not see.
cleanup() {
  if [[ -f "$work/pids" ]]; then
    # shellcheck disable=SC2046
    kill $(cat "$work/pids") 2>/dev/null || true
    for pid in $(cat "$work/pids"); do
      while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Starts a service with `extra` config lines; prints its port.
start() {
  local name="$1" extra="$2" port
  port="$(free_port)"
  mkdir -p "$work/$name/skills"
  # A skill to run and to look up, so the operations reach their real logic.
  for id in hello_world; do
    cp -r "$root/skills-dist/$id" "$work/$name/skills/$id"
  done
  printf 'skills_dir: skills\ndata_dir: data\nlog_level: warn\nllm:\n  provider: none\napi:\n  bind: 127.0.0.1:%s\n  dispatch_per_minute: 100000\n%s' \
    "$port" "$extra" >"$work/$name/config.yaml"
  "$sc_host" --config "$work/$name/config.yaml" service >"$work/$name/service.log" 2>&1 &
  echo "$!" >>"$work/pids"
  for _ in $(seq 1 200); do
    if curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
      echo "$port"
      return 0
    fi
    sleep 0.05
  done
  echo "contract: the $name service did not become ready; its log:" >&2
  cat "$work/$name/service.log" >&2
  return 1
}

check() {
  local name="$1" port="$2"
  shift 2
  echo "contract: $name mode on port $port" >&2
  # From the scratch folder: hypothesis and schemathesis leave caches
  # (.hypothesis/, .schemathesis/) in the working directory.
  (cd "$work" && "$venv/bin/schemathesis" run "http://127.0.0.1:$port/api/openapi.json" \
    --max-examples "$examples" --seed 7 --no-color --generation-database none \
    --report-dir "$work/$name-report" "$@")
}

token="contract-$RANDOM$RANDOM"
export SC_CONTRACT_TOKEN="$token"
token_port="$(start token $'  auth:\n    tokens:\n      - { id: contract, env: SC_CONTRACT_TOKEN }\n')"
# With a token, also check that a request without it is refused.
check token "$token_port" -H "Authorization: Bearer $token" --checks all \
  --exclude-checks use_after_free,ensure_resource_availability
open_port="$(start open "")"
check open "$open_port"
echo "contract: both modes passed" >&2
