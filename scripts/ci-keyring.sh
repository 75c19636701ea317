#!/bin/sh
# Run a command with a real, unlocked gnome-keyring Secret Service on a private
# D-Bus session bus, inside a fresh kernel session keyring (keyctl session -).
# Recipe: /work/shared/keyring-ci.md §3.
#
#   scripts/ci-keyring.sh cargo test --all-targets
#
# Environment:
#   CI_KEYRING_DATA   use this XDG_DATA_HOME instead of a fresh temp dir (kept afterwards)
#   KEYRING_PW        login-keyring password (default: ci-password)
# Inside the command: DBUS_SESSION_BUS_ADDRESS is set (by dbus-run-session) and
# KEYSHELL_REAL_KEYRING=1, so tests FAIL (not skip) if the keyring is unreachable.
# HOME is never changed (that would break rustup/cargo).
set -eu

if [ "$#" -eq 0 ]; then
  echo "usage: $0 <command> [args...]" >&2
  exit 2
fi

for tool in dbus-run-session dbus-send keyctl gnome-keyring-daemon; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "ci-keyring: '$tool' not found; run scripts/install-deps.sh" >&2
    exit 1
  fi
done

cleanup_dirs=""
if [ -n "${CI_KEYRING_DATA:-}" ]; then
  XDG_DATA_HOME="$CI_KEYRING_DATA"      # fresh login keyring per job; do NOT change HOME
else
  XDG_DATA_HOME="$(mktemp -d "${TMPDIR:-/tmp}/ci-keyring-data.XXXXXX")"
  cleanup_dirs="$XDG_DATA_HOME"
fi
# Always a private runtime dir: gnome-keyring puts its control socket there, and
# sharing one with a desktop session's daemon would talk to the wrong keyring.
XDG_RUNTIME_DIR="$(mktemp -d "${TMPDIR:-/tmp}/ci-keyring-run.XXXXXX")"
cleanup_dirs="$cleanup_dirs $XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
mkdir -p "$XDG_DATA_HOME/keyrings"
export XDG_DATA_HOME XDG_RUNTIME_DIR

cleanup() {
  # shellcheck disable=SC2086
  [ -n "$cleanup_dirs" ] && rm -rf $cleanup_dirs
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rc=0
dbus-run-session -- keyctl session - sh -c '
  if ! printf %s "${KEYRING_PW:-ci-password}" \
       | gnome-keyring-daemon --unlock --components=secrets >/dev/null; then
    echo "ci-keyring: gnome-keyring-daemon --unlock failed" >&2
    exit 1
  fi
  i=0
  until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
        | grep -q "boolean true"; do
    i=$((i+1))
    if [ "$i" -gt 200 ]; then
      echo "ci-keyring: secret service (org.freedesktop.secrets) did not come up within 10 s" >&2
      exit 1
    fi
    sleep 0.05
  done
  # The default alias must point at the unlocked login collection, not "/".
  alias_path=$(dbus-send --session --print-reply --dest=org.freedesktop.secrets \
        /org/freedesktop/secrets org.freedesktop.Secret.Service.ReadAlias string:default 2>&1) || {
    echo "ci-keyring: ReadAlias(default) failed: $alias_path" >&2; exit 1; }
  case "$alias_path" in
    *"/org/freedesktop/secrets/collection/"*) ;;
    *) echo "ci-keyring: no default collection (alias default -> $alias_path)" >&2; exit 1 ;;
  esac
  export KEYSHELL_REAL_KEYRING=1
  exec "$@"' ci-keyring-inner "$@" || rc=$?
exit "$rc"
