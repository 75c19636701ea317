#!/usr/bin/env bash
# The project's test command: formatting, lints, and every test target against a
# real (headless) OS keyring. Extra arguments go to `cargo test` after
# `--all-targets`, e.g.  scripts/test.sh -- --nocapture
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${CI:-}" ]; then
  export CARGO_TERM_COLOR=never
fi
export KEYSHELL_PROPTEST_CASES="${KEYSHELL_PROPTEST_CASES:-100000}"
# The team-store tests start their own OpenBao server; in this script they must run.
export KEYSHELL_REQUIRE_VAULT="${KEYSHELL_REQUIRE_VAULT:-1}"

echo "==> install-deps"
scripts/install-deps.sh

echo "==> fmt"
cargo fmt --all -- --check

echo "==> clippy"
cargo clippy --all-targets -- -D warnings

echo "==> test (real keyring)"
scripts/ci-keyring.sh cargo test --all-targets "$@"

echo "==> benchmark smoke run (no timing assertions)"
scripts/bench.sh --smoke

echo "==> team store: three-node Raft failover"
scripts/openbao-raft.sh
