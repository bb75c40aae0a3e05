#!/usr/bin/env bash
# Start the search servers the integration tests use, on free loopback
# ports, and print the shell lines that point the tests at them:
#   export SC_TEST_OPENSEARCH_URL=http://127.0.0.1:PORT      (osmem-server)
#   export SC_TEST_ELASTICSEARCH_URL=http://127.0.0.1:PORT   (noida-db)
#   export SC_TEST_SERVER_PIDS="PID PID"
# A URL already set in the environment (a real cluster) is kept and no
# server is started for it. Usage, as the Justfile does:
#   eval "$(tests/servers/start.sh)"; trap 'kill $SC_TEST_SERVER_PIDS' EXIT
set -euo pipefail
cd "$(dirname "$0")"

bins="$(./install.sh)"
OSMEM_SERVER_BIN="$(sed -n 's/^OSMEM_SERVER_BIN=//p' <<<"$bins")"
NOIDA_DB_BIN="$(sed -n 's/^NOIDA_DB_BIN=//p' <<<"$bins")"
run_dir="$(mktemp -d "${TMPDIR:-/tmp}/sc-test-servers.XXXXXX")"
pids=""

# Waits for a line matching $2 in log $1 and prints the URL in it.
wait_url() {
  local log="$1" pattern="$2" name="$3"
  for _ in $(seq 1 200); do
    local url
    url="$(grep -o "$pattern" "$log" 2>/dev/null | head -n 1 || true)"
    if [[ -n "$url" ]]; then echo "$url"; return 0; fi
    sleep 0.05
  done
  echo "tests/servers/start.sh: $name did not start; its output:" >&2
  cat "$log" >&2
  return 1
}

if [[ -z "${SC_TEST_OPENSEARCH_URL:-}" ]]; then
  "$OSMEM_SERVER_BIN" -addr 127.0.0.1:0 -no-stdin-watch -no-ja >"$run_dir/osmem.log" 2>&1 &
  pids="$pids $!"
  url="$(wait_url "$run_dir/osmem.log" 'http://127\.0\.0\.1:[0-9]*' osmem-server)"
  echo "export SC_TEST_OPENSEARCH_URL=$url"
fi
if [[ -z "${SC_TEST_ELASTICSEARCH_URL:-}" ]]; then
  "$NOIDA_DB_BIN" start --only elasticsearch --elasticsearch-port 0 --data-dir "$run_dir/noida" >"$run_dir/noida.log" 2>&1 &
  pids="$pids $!"
  url="$(wait_url "$run_dir/noida.log" 'http://127\.0\.0\.1:[0-9]*' noida-db)"
  echo "export SC_TEST_ELASTICSEARCH_URL=$url"
fi
echo "export SC_TEST_SERVER_PIDS=\"${pids# }\""
