#!/usr/bin/env bash
# keyshell benchmarks, side by side with their floors and with what a user would
# otherwise run (secret-tool, `llm keys`). Every comparison is measured in the
# same run; the report gives medians with min/max, peak RSS and the ratios the
# targets in docs/benchmarks.md are stated in.
#
#   scripts/bench.sh            full run: release build, then a few minutes of measuring
#   scripts/bench.sh --smoke    seconds: debug build, tiny counts, 2 runs each, no llm
#                               (CI runs this; it checks that every step works, not timings)
#   scripts/bench.sh --no-llm   full run without the PyPI `llm` comparison
#   scripts/bench.sh --out DIR  write the results there (default target/bench/<mode>)
#   KEYSHELL_BENCH_TRACE=1      trace the measuring part (set -x)
#
# Needs: hyperfine, /usr/bin/time, gnome-keyring + D-Bus + secret-tool (installed
# by scripts/install-deps.sh when missing), python3 (report; venv + pip for llm).
# The keyring measurements run on a private gnome-keyring (scripts/ci-keyring.sh);
# the fallback-file ones with LLXPRT_DISABLE_OS_KEYRING=1. Nothing outside a
# temporary directory is touched: LLXPRT_DATA_HOME and LLM_USER_PATH point there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODE=full
WITH_LLM=1
OUT=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --smoke) MODE=smoke ;;
    --no-llm) WITH_LLM=0 ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
[ "$MODE" = smoke ] && WITH_LLM=0
OUT=${OUT:-$ROOT/target/bench/$MODE}
case "$OUT" in /*) ;; *) OUT=$ROOT/$OUT ;; esac

# ---------------------------------------------------------------------------
# Outer part: tools, build, llm venv; then the measuring part runs again
# inside a private keyring session.
# ---------------------------------------------------------------------------
if [ -z "${KEYSHELL_BENCH_INNER:-}" ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
  scripts/install-deps.sh >/dev/null
  if [ ! -x /usr/bin/time ]; then
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends time >/dev/null \
      || { $SUDO apt-get update >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends time >/dev/null; }
  fi
  for tool in hyperfine python3 secret-tool /usr/bin/time; do
    command -v "$tool" >/dev/null 2>&1 || { echo "bench: '$tool' is missing" >&2; exit 1; }
  done

  if [ "$MODE" = smoke ]; then
    PROFILE_DIR=debug
    echo "==> bench: cargo build (debug, smoke)" >&2
    cargo build --quiet --bin keyshell --example floor
  else
    PROFILE_DIR=release
    echo "==> bench: cargo build --release" >&2
    cargo build --release --bin keyshell --example floor
  fi

  WORK=$(mktemp -d "${TMPDIR:-/tmp}/keyshell-bench.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  # Copies: a rebuild during the run cannot change what is measured, and the
  # paths hyperfine splits on white space have none.
  mkdir -p "$WORK/bin"
  cp "target/$PROFILE_DIR/keyshell" "target/$PROFILE_DIR/examples/floor" "$WORK/bin/"

  LLM_BIN=""
  if [ "$WITH_LLM" = 1 ]; then
    echo "==> bench: pip install llm (temporary venv)" >&2
    python3 -m venv "$WORK/llm-venv"
    "$WORK/llm-venv/bin/pip" install --quiet --disable-pip-version-check llm
    LLM_BIN=$WORK/llm-venv/bin/llm
  fi

  rm -rf "$OUT"
  mkdir -p "$OUT/json"
  export KEYSHELL_BENCH_INNER=1 KEYSHELL_BENCH_MODE=$MODE KEYSHELL_BENCH_WORK=$WORK \
    KEYSHELL_BENCH_OUT=$OUT KEYSHELL_BENCH_LLM=$LLM_BIN KEYSHELL_BENCH_PROFILE=$PROFILE_DIR
  scripts/ci-keyring.sh "$ROOT/scripts/bench.sh"
  echo "==> bench: report in $OUT/report.md" >&2
  exit 0
fi

# ---------------------------------------------------------------------------
# Inner part: runs under scripts/ci-keyring.sh.
# ---------------------------------------------------------------------------
MODE=$KEYSHELL_BENCH_MODE
[ -n "${KEYSHELL_BENCH_TRACE:-}" ] && set -x
W=$KEYSHELL_BENCH_WORK
OUT=$KEYSHELL_BENCH_OUT
LLM=$KEYSHELL_BENCH_LLM
KS=$W/bin/keyshell
FLOOR=$W/bin/floor
NPROC=$(nproc)
SERVICE=llxprt-code-provider-keys
unset LLXPRT_DISABLE_OS_KEYRING LLXPRT_DATA_HOME KEYSHELL_PROFILE KEYSHELL_KEYRING_TIMEOUT_MS

if [ "$MODE" = smoke ]; then
  N=5 NSAVE=20 KR_LO=1 KR_HI=3 RUNS_FAST=2 RUNS_SLOW=2 RUNS_KR=2 RSS_RUNS=1 KDF_INPROC=2 WARM=0
else
  N=100 NSAVE=1000 KR_LO=10 KR_HI=60 RUNS_FAST=30 RUNS_SLOW=5 RUNS_KR=10 RSS_RUNS=3 KDF_INPROC=20 WARM=3
fi
VALUE=sk-bench-0123456789abcdefghijklmnopqrstuvwxyz

{
  echo "mode	$MODE"
  echo "profile	$KEYSHELL_BENCH_PROFILE"
  echo "date	$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit	$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' (working tree with changes)')"
  echo "nproc	$NPROC"
  echo "cpu	$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "memory	$(free -h | awk '/^Mem:/ {print $2}')"
  echo "kernel	$(uname -r)"
  echo "os	$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
  echo "hyperfine	$(hyperfine --version)"
  echo "secret-tool	$(dpkg-query -W -f '${Version}' libsecret-tools 2>/dev/null || echo '?')"
  echo "gnome-keyring	$(dpkg-query -W -f '${Version}' gnome-keyring 2>/dev/null || echo '?')"
  echo "llm	$([ -n "$LLM" ] && "$LLM" --version || echo 'not run')"
  echo "load_before	$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "counts	N=$N NSAVE=$NSAVE KR_LO=$KR_LO KR_HI=$KR_HI runs=$RUNS_FAST/$RUNS_SLOW/$RUNS_KR"
} >"$OUT/machine.tsv"
lscpu | head -20 >"$OUT/lscpu.txt"

HF_STYLE=basic
[ "$MODE" = smoke ] && HF_STYLE=none
hf() { # hf GROUP RUNS [hyperfine arguments: -n NAME CMD ...]
  local group=$1 runs=$2
  shift 2
  echo "==> $group" >&2
  hyperfine -N --style "$HF_STYLE" -r "$runs" -w "$WARM" --export-json "$OUT/json/$group.json" "$@" >&2
}

# peak RSS (KiB) of a command, over RSS_RUNS runs: rss NAME PREPARE CMD...
rss() {
  local name=$1 prep=$2 i
  shift 2
  for i in $(seq "$RSS_RUNS"); do
    if [ -n "$prep" ]; then sh -c "$prep" >/dev/null 2>&1 || true; fi
    /usr/bin/time -f %M -o "$W/rss.tmp" "$@" >/dev/null 2>&1 || true
    printf '%s\t%s\n' "$name" "$(tail -1 "$W/rss.tmp")" >>"$OUT/rss.tsv"
  done
}
: >"$OUT/rss.tsv"
: >"$OUT/floor.tsv"

D=$W/data
mkdir -p "$D"
# in_file DIR CMD...: CMD (a program or one of the functions here) on the data
# set DIR with fallback files only; in_ring: the same with the OS keyring.
in_file() { (export LLXPRT_DISABLE_OS_KEYRING=1 LLXPRT_DATA_HOME="$D/$1" && shift && "$@"); }
in_ring() { (export LLXPRT_DATA_HOME="$D/$1" && shift && "$@"); }
export LLM_USER_PATH=$W/llm/empty

# ---- data sets ---------------------------------------------------------------
echo "==> data sets: $N keys by one script, $N keys by $N processes" >&2
mkdir -p -m 700 "$D/empty" "$D/one" "$D/many" "$D/salts" "$D/single" "$D/save" "$D/saveone" "$D/kr"
mkdir -p "$W/trash"
for i in $(seq -w 1 "$N"); do echo "/key save k$i $VALUE-$i"; done >"$W/save_n.ks"
in_file one "$KS" --yes "$W/save_n.ks" >/dev/null
# "many": each key saved by its own keyshell run. Runs adopt the salt of the
# first file, so these share one salt too.
for i in $(seq -w 1 "$N"); do in_file many "$KS" -c "/key save k$i $VALUE-$i" >/dev/null; done
# "salts": N keys with N salts, as a tool that salts every file on its own
# (llxprt-code) leaves them: each saved into an empty data root that holds the
# same machine secret, then moved in.
in_file salts "$KS" -c "/key save k0 $VALUE-0" >/dev/null
for i in $(seq -w 1 "$N"); do
  mkdir -p -m 700 "$D/salt-$i"
  cp -p "$D/salts/machine_secret" "$D/salt-$i/"
  in_file "salt-$i" "$KS" -c "/key save k$i $VALUE-$i" >/dev/null
  mv "$D/salt-$i/provider-keys/k$i.enc" "$D/salts/provider-keys/"
  rm -rf "$D/salt-$i"
done
rm -f "$D/salts/provider-keys/k0.enc"
in_file single "$KS" -c "/key save k1 $VALUE" >/dev/null
for i in $(seq -w 1 "$NSAVE"); do echo "/key save k$i $VALUE-$i"; done >"$W/save_many.ks"
salts() { # distinct salts among the fallback files of a data set
  python3 - "$1" <<'EOF'
import base64, json, pathlib, sys
files = list(pathlib.Path(sys.argv[1]).glob("*.enc"))
print(len({base64.b64decode(json.loads(f.read_text())["data"])[:16] for f in files}), len(files))
EOF
}
read -r salts_one files_one < <(salts "$D/one/provider-keys")
read -r salts_many files_many < <(salts "$D/many/provider-keys")
read -r salts_salts files_salts < <(salts "$D/salts/provider-keys")
printf 'salts_one\t%s\t%s\nsalts_many\t%s\t%s\nsalts_salts\t%s\t%s\n' "$salts_one" "$files_one" \
  "$salts_many" "$files_many" "$salts_salts" "$files_salts" \
  >>"$OUT/machine.tsv"

if [ -n "$LLM" ]; then
  mkdir -p "$W/llm/empty" "$W/llm/n"
  python3 - "$W/llm/n/keys.json" "$N" "$VALUE" <<'EOF'
import json, sys
path, n, value = sys.argv[1], int(sys.argv[2]), sys.argv[3]
keys = {"// Note": "This file stores secret API credentials. Do not share!"}
keys.update({f"k{i:0{len(str(n))}d}": f"{value}-{i}" for i in range(1, n + 1)})
open(path, "w").write(json.dumps(keys, indent=2) + "\n")
EOF
fi

# ---- (a) start-up + empty /key list ---------------------------------------------
a_cmds=(-n true true -n ks_start_list_empty_file "$KS -c '/key list'")
[ -n "$LLM" ] && a_cmds+=(-n llm_keys_list_empty "$LLM keys list")
in_file empty hf a_start_file "$RUNS_FAST" "${a_cmds[@]}"
in_ring kr hf a_start_keyring "$RUNS_FAST" \
  -n true_kr true \
  -n ks_start_list_empty_keyring "$KS -c '/key list'" \
  -n st_search_empty "secret-tool search --all service $SERVICE"

# ---- (b) /key list over N fallback keys -------------------------------------------
echo "==> floor: one KDF in-process, $KDF_INPROC times" >&2
"$FLOOR" kdf --count "$KDF_INPROC" >>"$OUT/floor.tsv"
"$FLOOR" kdf --count "$KDF_INPROC" --threads "$NPROC" >>"$OUT/floor.tsv"
b1_cmds=(-n ks_list_n_one_salt "$KS -c '/key list'" -n floor_kdf1 "$FLOOR kdf --count 1")
[ -n "$LLM" ] && b1_cmds+=(-n llm_keys_list_n "$LLM keys list")
LLM_USER_PATH=$W/llm/n in_file one hf b_list_one_salt "$RUNS_FAST" "${b1_cmds[@]}"
in_file single hf b_list_single "$RUNS_FAST" -n ks_list_1_key "$KS -c '/key list'"
in_file many hf b_list_many_runs "$RUNS_FAST" -n ks_list_n_many_runs "$KS -c '/key list'"
in_file salts hf b_list_many_salts "$RUNS_SLOW" \
  -n ks_list_n_many_salts "$KS -c '/key list'" \
  -n floor_kdf_n_threads "$FLOOR kdf --count $N --threads $NPROC"

# ---- (c) a script of NSAVE /key save -----------------------------------------------
in_file save "$KS" --yes -c "/key save warm $VALUE" >/dev/null # the machine secret
"$FLOOR" writes --count "$NSAVE" --dir "$W/fw-inproc" >>"$OUT/floor.tsv"
# Each run writes into fresh directories. The previous run's are moved aside,
# not deleted: on ext4 without a journal, creating files next to inodes freed
# seconds ago is far slower (the allocator skips recently deleted inodes), which
# would charge the benchmark's own clean-up to whoever creates the most files.
aside() { echo "sh -c 'for d in $*; do [ -e \$d ] && mv \$d $W/trash/\$\$.\$(basename \$d); done; true'"; }
in_file save hf c_save_script "$RUNS_SLOW" \
  -p "$(aside "$D/save/provider-keys" "$D/save/locks")" -n ks_save_script "$KS --yes $W/save_many.ks" \
  -p "$(aside "$W/fw")" -n floor_kdf_plus_writes "$FLOOR writes --count $NSAVE --dir $W/fw" \
  -p "$(aside "$W/fwl" "$W/fwl-locks")" -n floor_kdf_plus_locked_writes \
  "$FLOOR writes --count $NSAVE --dir $W/fwl --locks $W/fwl-locks"

# ---- (f) llm: one save ------------------------------------------------------------------
f_cmds=(-n ks_save_one_file "$KS --yes -c '/key save one $VALUE'")
[ -n "$LLM" ] && f_cmds+=(-n llm_keys_set_one "$LLM keys set one --value $VALUE")
in_file saveone hf f_save_one "$RUNS_FAST" "${f_cmds[@]}"

# ---- (d) keyring set / get / delete -----------------------------------------------------
# keyshell: per-op cost = extra time of a script with KR_HI ops over one with
# KR_LO ops, divided by the extra ops (start-up, D-Bus connection and the
# availability probe cancel out). secret-tool: time of one call minus the time
# of a secret-tool start that exits before D-Bus (usage message).
for n in "$KR_LO" "$KR_HI"; do
  for i in $(seq -w 1 "$n"); do echo "/key save kr$i $VALUE-$i"; done >"$W/kr_save_$n.ks"
  for i in $(seq -w 1 "$n"); do echo "/key show kr$i"; done >"$W/kr_show_$n.ks"
  for i in $(seq -w 1 "$n"); do echo "/key delete kr$i"; done >"$W/kr_delete_$n.ks"
done
KSR="env LLXPRT_DATA_HOME=$D/kr $KS --yes"
clear_all="$KSR --keep-going $W/kr_delete_$KR_HI.ks"
save_all="$KSR $W/kr_save_$KR_HI.ks"
sh -c "$clear_all" >/dev/null 2>&1 || true
echo "==> floor: OS keyring adapter in-process" >&2
"$FLOOR" keyring --count "$((KR_HI - KR_LO))" >>"$OUT/floor.tsv"
hf d_ks_set "$RUNS_KR" \
  -p "sh -c '$clear_all >/dev/null 2>&1; true'" -n ks_kr_save_lo "$KSR $W/kr_save_$KR_LO.ks" \
  -p "sh -c '$clear_all >/dev/null 2>&1; true'" -n ks_kr_save_hi "$KSR $W/kr_save_$KR_HI.ks"
sh -c "$save_all" >/dev/null
hf d_ks_get "$RUNS_KR" \
  -n ks_kr_show_lo "$KSR $W/kr_show_$KR_LO.ks" \
  -n ks_kr_show_hi "$KSR $W/kr_show_$KR_HI.ks"
hf d_ks_delete "$RUNS_KR" \
  -p "sh -c '$save_all >/dev/null'" -n ks_kr_delete_lo "$KSR $W/kr_delete_$KR_LO.ks" \
  -p "sh -c '$save_all >/dev/null'" -n ks_kr_delete_hi "$KSR $W/kr_delete_$KR_HI.ks"
sh -c "$clear_all" >/dev/null 2>&1 || true

ST_ATTR="service $SERVICE username bench-st"
ST_STORE="sh -c 'printf %s $VALUE | secret-tool store --label=bench $ST_ATTR'"
hf d_st "$RUNS_FAST" -i \
  -p "true" -n st_start "secret-tool" \
  -p "true" -n st_start_piped "sh -c 'printf %s $VALUE | secret-tool'" \
  -p "sh -c 'secret-tool clear $ST_ATTR; true'" -n st_store "$ST_STORE" \
  -p "true" -n st_lookup "secret-tool lookup $ST_ATTR" \
  -p "$ST_STORE" -n st_clear "secret-tool clear $ST_ATTR"
# One operation as a user types it: a whole process each, start-up included.
hf d_single "$RUNS_FAST" -i \
  -p "true" -n ks_kr_save_one_process "$KSR -c '/key save one $VALUE'" \
  -p "true" -n st_store_one_process "$ST_STORE"
sh -c "$KSR -c '/key delete one'; secret-tool clear $ST_ATTR" >/dev/null 2>&1 || true

# ---- (e) peak memory ----------------------------------------------------------------------
echo "==> peak RSS (/usr/bin/time -f %M, $RSS_RUNS runs each)" >&2
rss true "" true
F="env LLXPRT_DISABLE_OS_KEYRING=1"
rss ks_start_list_empty_file "" $F LLXPRT_DATA_HOME="$D/empty" "$KS" -c '/key list'
rss ks_start_list_empty_keyring "" env LLXPRT_DATA_HOME="$D/kr" "$KS" -c '/key list'
rss ks_list_1_key "" $F LLXPRT_DATA_HOME="$D/single" "$KS" -c '/key list'
rss ks_list_n_one_salt "" $F LLXPRT_DATA_HOME="$D/one" "$KS" -c '/key list'
rss ks_list_n_many_salts "" $F LLXPRT_DATA_HOME="$D/salts" "$KS" -c '/key list'
rss floor_kdf1 "" "$FLOOR" kdf --count 1
rss floor_kdf3_t1 "" "$FLOOR" kdf --count 3 --threads 1
rss floor_kdf_n_threads "" "$FLOOR" kdf --count "$N" --threads "$NPROC"
rss ks_save_script "$(aside "$D/save/provider-keys" "$D/save/locks")" $F LLXPRT_DATA_HOME="$D/save" "$KS" --yes "$W/save_many.ks"
rss floor_kdf_plus_writes "$(aside "$W/fw")" "$FLOOR" writes --count "$NSAVE" --dir "$W/fw"
rss ks_kr_save_hi "$clear_all" env LLXPRT_DATA_HOME="$D/kr" "$KS" --yes "$W/kr_save_$KR_HI.ks"
rss st_store "secret-tool clear $ST_ATTR" sh -c "printf %s $VALUE | secret-tool store --label=bench $ST_ATTR"
if [ -n "$LLM" ]; then
  rss llm_keys_list_n "" env LLM_USER_PATH="$W/llm/n" "$LLM" keys list
fi
sh -c "$clear_all; secret-tool clear $ST_ATTR" >/dev/null 2>&1 || true
echo "load_after	$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.tsv"

# ---- report --------------------------------------------------------------------------------
python3 - "$OUT" "$NPROC" "$N" "$NSAVE" "$KR_LO" "$KR_HI" <<'EOF'
import glob, json, os, statistics, sys

out, nproc, n, nsave, kr_lo, kr_hi = sys.argv[1], *map(int, sys.argv[2:])
ms = 1000.0
res = {}  # name -> dict(median, min, max, runs, times)
for path in sorted(glob.glob(os.path.join(out, "json", "*.json"))):
    for r in json.load(open(path))["results"]:
        res[r["command"]] = {
            "median": r["median"] * ms, "min": r["min"] * ms, "max": r["max"] * ms,
            "runs": len(r["times"]), "times": [t * ms for t in r["times"]],
        }
floor = {}
for line in open(os.path.join(out, "floor.tsv")):
    name, med, lo, hi, cnt = line.split("\t")
    floor[name] = {"median": float(med), "min": float(lo), "max": float(hi), "runs": int(cnt)}
rss = {}
for line in open(os.path.join(out, "rss.tsv")):
    name, kib = line.rstrip("\n").split("\t")
    if kib.strip().isdigit():
        rss.setdefault(name, []).append(int(kib))
machine = dict(l.rstrip("\n").split("\t", 1) for l in open(os.path.join(out, "machine.tsv")))

def stats(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": len(values)}

# keyshell per keyring operation: each run of the HI script against the median
# of the LO script, over the extra operations.
derived = {}
extra = kr_hi - kr_lo
for op, lo, hi in [("set", "ks_kr_save_lo", "ks_kr_save_hi"),
                   ("get", "ks_kr_show_lo", "ks_kr_show_hi"),
                   ("delete", "ks_kr_delete_lo", "ks_kr_delete_hi")]:
    if lo in res and hi in res:
        derived[f"ks_kr_{op}_per_op"] = stats(
            [(t - res[lo]["median"]) / extra for t in res[hi]["times"]])
# secret-tool per operation: each run minus the median bare start.
for op, name, base in [("set", "st_store", "st_start_piped"),
                       ("get", "st_lookup", "st_start"),
                       ("delete", "st_clear", "st_start")]:
    if name in res and base in res:
        derived[f"st_{op}_per_op"] = stats([t - res[base]["median"] for t in res[name]["times"]])
if "kdf_per_op_t1" in floor:
    k = floor["kdf_per_op_t1"]
    derived["kdf_x_half_n"] = {key: k[key] * n / 2 for key in ("median", "min", "max")} | {"runs": k["runs"]}

def get(name):
    return res.get(name) or derived.get(name) or floor.get(name)

def med(name):
    v = get(name)
    return v["median"] if v else None

rows = []
def ratio(label, target, num, den, limit, scale=1.0, unit="×"):
    a, b = med(num), med(den)
    if a is None or b is None or b <= 0:
        rows.append((label, target, "not measured", "—"))
        return
    r = a / (b * scale)
    rows.append((label, target, f"{r:.2f}{unit} ({a:.1f} / {b * scale:.1f} ms)",
                 "yes" if r <= limit else "**no**"))
def diff(label, target, num, den, limit):
    a, b = med(num), med(den)
    if a is None or b is None:
        rows.append((label, target, "not measured", "—"))
        return
    rows.append((label, target, f"+{a - b:.2f} ms ({a:.2f} − {b:.2f}); {a / b:.1f}×",
                 "yes" if a - b <= limit else "**no**"))

diff("(a) start-up + `/key list`, 0 keys, fallback files", "≤ `true` + 5 ms",
     "ks_start_list_empty_file", "true", 5.0)
diff("(a) start-up + `/key list`, 0 keys, Secret Service", "≤ `true` + 5 ms",
     "ks_start_list_empty_keyring", "true_kr", 5.0)
ratio("(a) … Secret Service, vs `secret-tool search`", "info",
      "ks_start_list_empty_keyring", "st_search_empty", float("inf"))
ratio(f"(b) `/key list`, {n} keys, one salt", "≤ 1.3 × one KDF (process)",
      "ks_list_n_one_salt", "floor_kdf1", 1.3)
ratio(f"(b) `/key list`, {n} keys saved by {n} keyshell runs (salt adopted)", "≤ 1.3 × one KDF (process)",
      "ks_list_n_many_runs", "floor_kdf1", 1.3)
ratio(f"(b) `/key list`, {n} keys, {n} salts", f"≤ 1.1 × {n} KDFs on {nproc} threads (process)",
      "ks_list_n_many_salts", "floor_kdf_n_threads", 1.1)
ratio(f"(b) `/key list`, {n} keys, {n} salts", f"≤ 1.1 × {n // 2} × one KDF (in-process median)",
      "ks_list_n_many_salts", "kdf_x_half_n", 1.1)
ratio(f"(c) script of {nsave} `/key save`", f"≤ 1.2 × (one KDF + {nsave} atomic writes)",
      "ks_save_script", "floor_kdf_plus_writes", 1.2)
ratio(f"(c) … vs one KDF + {nsave} atomic writes, each under its lock file", "info",
      "ks_save_script", "floor_kdf_plus_locked_writes", float("inf"))
for op in ("set", "get", "delete"):
    ratio(f"(d) keyring {op}, per op", "≤ 1.2 × secret-tool per op (start excluded)",
          f"ks_kr_{op}_per_op", f"st_{op}_per_op", 1.2)
ratio("(d) one save as a whole process vs `secret-tool store`", "info",
      "ks_kr_save_one_process", "st_store_one_process", float("inf"))
for label, ks, llm in [("(f) start-up + list, 0 keys", "ks_start_list_empty_file", "llm_keys_list_empty"),
                       ("(f) save one key", "ks_save_one_file", "llm_keys_set_one"),
                       (f"(f) list {n} keys, one salt", "ks_list_n_one_salt", "llm_keys_list_n"),
                       (f"(f) list {n} keys saved by {n} runs", "ks_list_n_many_runs", "llm_keys_list_n"),
                       (f"(f) list {n} keys, {n} salts", "ks_list_n_many_salts", "llm_keys_list_n"),
                       (f"(f) keyring: list 0 keys", "ks_start_list_empty_keyring", "llm_keys_list_empty"),
                       (f"(f) keyring: save one key (process)", "ks_kr_save_one_process", "llm_keys_set_one")]:
    ratio(label + " vs `llm keys`", "< 1 (keyshell ahead)", ks, llm, 0.999)

def rss_med(name):
    v = rss.get(name)
    return statistics.median(v) / 1024 if v else None
base, many = rss_med("ks_start_list_empty_file"), rss_med("ks_list_n_many_salts")
floor_par, floor_true = rss_med("floor_kdf_n_threads"), rss_med("true")
if None not in (base, many, floor_par, floor_true):
    # The floor: the same derivations on nproc threads of one process, plus
    # keyshell's own start-up memory.
    bound = floor_par - floor_true + base
    rows.append((f"(e) peak RSS, list of {n} keys / {n} salts",
                 f"≤ {n} KDFs on {nproc} threads + empty-list RSS = {bound:.1f} MiB",
                 f"{many:.1f} MiB", "yes" if many <= bound * 1.05 else "**no**"))
    rows.append((f"(e) … vs {nproc} × 16 MiB (scrypt's buffer) + empty-list RSS", "info",
                 f"{many:.1f} / {base + 16 * nproc:.1f} MiB", "—"))

lines = []
lines.append(f"# keyshell benchmark report ({machine.get('mode')})\n")
if machine.get("mode") == "smoke":
    lines.append("> Smoke run (debug build, tiny counts, 2 runs each): it checks that every step "
                 "works. Its ratios say nothing about the targets.\n")
lines.append("| | |\n|---|---|")
for key in ("date", "commit", "profile", "cpu", "nproc", "memory", "kernel", "os", "hyperfine",
            "secret-tool", "gnome-keyring", "llm", "load_before", "load_after", "counts"):
    lines.append(f"| {key} | {machine.get(key, '?')} |")
lines.append(f"| salts in data sets | one script: {machine.get('salts_one', '?').replace(chr(9), ' salts / ')} files; "
             f"one process each: {machine.get('salts_many', '?').replace(chr(9), ' salts / ')} files; "
             f"another tool's: {machine.get('salts_salts', '?').replace(chr(9), ' salts / ')} files |")
lines.append("\n## Ratios\n")
lines.append("| comparison | target | measured (medians) | met |\n|---|---|---|---|")
for r in rows:
    lines.append("| " + " | ".join(r) + " |")
lines.append("\n## Raw figures (ms; median, min, max over runs; peak RSS median MiB)\n")
lines.append("| name | median | min | max | runs | peak RSS |\n|---|---:|---:|---:|---:|---:|")
for name, v in list(res.items()) + list(derived.items()) + list(floor.items()):
    r = rss_med(name)
    lines.append(f"| {name} | {v['median']:.2f} | {v['min']:.2f} | {v['max']:.2f} | {v['runs']} | "
                 f"{'' if r is None else f'{r:.1f}'} |")
for name in rss:
    if not (name in res or name in derived or name in floor):
        lines.append(f"| {name} (RSS only) | | | | | {rss_med(name):.1f} |")
text = "\n".join(lines) + "\n"
open(os.path.join(out, "report.md"), "w").write(text)
print(text)
EOF
