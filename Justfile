# SecurityClaw tasks. `just --list` shows them all.

set shell := ["bash", "-euo", "pipefail", "-c"]

target_dir := env_var_or_default("CARGO_TARGET_DIR", justfile_directory() / "target")
wasm_out := target_dir / "wasm32-wasip2" / "release"

# Build the skills, the host, then list the skills and run hello_world.
demo: skills build
    {{target_dir}}/release/sc-host list-skills
    {{target_dir}}/release/sc-host dispatch hello_world --param name=analyst

# Build the built-in skills into skills-dist/<skill_id>/.
skills: wasm-target
    cargo build --release --target wasm32-wasip2 --manifest-path skills-src/Cargo.toml --target-dir "{{target_dir}}"
    just _install skills-src skills-dist

# Build the test components (hostile fixtures, noop) into tests/fixtures/dist/.
fixtures: wasm-target
    cargo build --release --target wasm32-wasip2 --manifest-path tests/fixtures/Cargo.toml --target-dir "{{target_dir}}"
    just _install tests/fixtures tests/fixtures/dist

# Build the host (release) for this machine's CPU: the embedded models'
# quantized matmuls use AVX2/FMA when compiled for them (about 3x faster).
build:
    RUSTFLAGS="-C target-cpu=native" cargo build --release -p sc-host

# Run every test: skills and fixtures built from source, the search servers
# started on free ports (osmem-server for OpenSearch, noida-db for
# Elasticsearch, from pinned PyPI packages), then the workspace tests.
# A real cluster is used instead when SC_TEST_OPENSEARCH_URL /
# SC_TEST_ELASTICSEARCH_URL point at one.
test: skills fixtures
    #!/usr/bin/env bash
    set -euo pipefail
    # The labeled datasets live in shared/ beside the checkout; a checkout
    # elsewhere finds them through SC_DATASETS_DIR.
    if [ -z "${SC_DATASETS_DIR:-}" ]; then
        for dir in "{{justfile_directory()}}/../shared/datasets" /work/shared/datasets; do
            if [ -d "$dir" ]; then export SC_DATASETS_DIR="$(cd "$dir" && pwd)"; break; fi
        done
    fi
    eval "$(scripts/start-test-servers.sh)"
    trap 'kill $SC_TEST_SERVER_PIDS 2>/dev/null || true' EXIT
    cargo test --workspace --all-targets

# Formatting and clippy, warnings are errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy --manifest-path skills-src/Cargo.toml --target wasm32-wasip2 --target-dir "{{target_dir}}" -- -D warnings

# Benchmarks (release build): list-skills, call overhead, hot reload, API, start time,
# RSS; embedded-store ingest rate and aggregation latency.
bench: skills fixtures
    RUSTFLAGS="-C target-cpu=native" cargo bench -p sc-host
    RUSTFLAGS="-C target-cpu=native" cargo bench -p sc-store
    RUSTFLAGS="-C target-cpu=native" cargo bench -p sc-models

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
