#!/bin/sh
# Idempotently install what scripts/test.sh needs: a headless gnome-keyring
# Secret Service (see scripts/ci-keyring.sh), hyperfine, python3 + cryptography
# (tests/support/*.py), and the rustfmt/clippy components.
set -eu

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
fi

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: apt-get not available; install manually: $*" >&2
    return 1
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

missing=""
for tool in gnome-keyring-daemon dbus-run-session dbus-send secret-tool keyctl hyperfine; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  echo "install-deps: missing:$missing" >&2
  apt_install gnome-keyring dbus-x11 libsecret-tools keyutils dbus-daemon dbus-bin hyperfine
fi

if ! command -v python3 >/dev/null 2>&1; then
  apt_install python3 python3-cryptography
fi
if ! python3 -c 'import cryptography' >/dev/null 2>&1; then
  python3 -m pip install --quiet cryptography \
    || python3 -m pip install --quiet --break-system-packages cryptography \
    || apt_install python3-cryptography \
    || true
  if ! python3 -c 'import cryptography' >/dev/null 2>&1; then
    echo "install-deps: python3 module 'cryptography' is still not importable" >&2
    exit 1
  fi
fi

# May fail offline; cargo fmt/clippy will then report the problem themselves.
if ! cargo fmt --version >/dev/null 2>&1; then
  rustup component add rustfmt >/dev/null 2>&1 || true
fi
if ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add clippy >/dev/null 2>&1 || true
fi
exit 0
