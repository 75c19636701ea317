#!/usr/bin/env bash
# The longer reliability runs behind the figures in docs/reliability.md.
# (The CI suite, scripts/test.sh, runs every one of these tests with smaller
# counts.) Debug build, like the suite; only the fuzz run builds in release.
#
#   scripts/reliability.sh            # everything
#   scripts/reliability.sh crash      # one part: crash | keyring | props | fuzz
#
# Knobs (defaults in brackets):
#   KEYSHELL_CRASH_RUNS      SIGKILLed runs of the crash test          [200]
#   KEYSHELL_PROPTEST_CASES  cases of tests/reliability_props.rs        [1000000]
#   KEYSHELL_FUZZ_RUNS       executions per fuzz target                 [1000000]
#   KEYSHELL_SEED            replay the kill moments of a crash run      [random]
set -euo pipefail
cd "$(dirname "$0")/.."

part="${1:-all}"
crash_runs="${KEYSHELL_CRASH_RUNS:-200}"
cases="${KEYSHELL_PROPTEST_CASES:-1000000}"
fuzz_runs="${KEYSHELL_FUZZ_RUNS:-1000000}"

run_part() { [ "$part" = all ] || [ "$part" = "$1" ]; }

if run_part crash; then
  echo "==> crash: $crash_runs SIGKILLed script runs (saves and deletes), $((crash_runs / 3)) killed first saves"
  KEYSHELL_CRASH_RUNS="$crash_runs" cargo test --test processes -- --nocapture \
    killed_writers_and_deleters a_first_save_killed
fi

if run_part keyring; then
  echo "==> concurrency, locked and stalled keyrings on a real gnome-keyring"
  if command -v gnome-keyring-daemon >/dev/null 2>&1; then
    scripts/ci-keyring.sh cargo test --test processes --test reliability_keyring \
      --test reliability_locked_keyring --test reliability_keyring_outage -- --nocapture
  else
    echo "gnome-keyring is not installed (scripts/install-deps.sh): fallback files only"
    cargo test --test processes --test reliability_keyring -- --nocapture
  fi
fi

if run_part props; then
  echo "==> properties: KEYSHELL_PROPTEST_CASES=$cases"
  KEYSHELL_PROPTEST_CASES="$cases" cargo test --test reliability_props -- --nocapture
fi

if run_part fuzz; then
  if cargo fuzz --version >/dev/null 2>&1; then
    for target in parse_line profile_from_toml envelope_parse; do
      echo "==> fuzz $target: $fuzz_runs executions (release, no sanitizer)"
      log="$(mktemp)"
      status=0
      cargo +stable fuzz run -s none "$target" -- -runs="$fuzz_runs" >"$log" 2>&1 || status=$?
      grep -E "^(#[0-9]+[[:space:]]+DONE|Done [0-9]+ runs)" "$log" || true
      if [ "$status" -ne 0 ]; then
        tail -n 60 "$log"
        echo "fuzz $target failed (status $status); the input is under fuzz/artifacts/$target/" >&2
        exit "$status"
      fi
      rm -f "$log"
    done
  else
    echo "==> fuzz: skipped (cargo-fuzz is not installed: cargo install cargo-fuzz)"
  fi
fi
