#!/usr/bin/env bash
# bench-store.sh: ely's stores against the official Python client (weaviate-client 3.26.7,
# REST), side by side, in one run, on the same objects and the same server.
#
#   import  ely-store-bench import (Store::upsert, 4 requests of 100 in flight)
#           vs  bench_store.py import (client.batch, batch_size=100, num_workers=4)
#   export  ely-store-bench export (Store::scan with vectors, pages of 1000)
#           vs  bench_store.py export (data_object.get(after=..., additional_properties=["vector"]))
#
# Both talk to ONE fake-weaviate release server (crates/fake-weaviate) on a free port; each
# run imports into its own fresh class, which is deleted after its export. Then the embedded
# store (a SQLite file) is timed on its own. Objects are generated before the clock starts
# (ely-store-bench generates them; bench_store.py loads the same objects, written by
# `ely-store-bench gen`). After the last run, ely reads back both clients' classes and checks
# every object bit for bit. Missing a speed goal is reported, not fatal; a wrong result is.
#
# The report goes to stdout; progress goes to stderr.
# Settings (environment):
#   OBJECTS=20000 DIMS=1536 SEED=1    the objects
#   RUNS=3                            repetitions; the best (minimum) wall time counts
#   IN_FLIGHT=4                       ely's batch requests in flight; the Python client's workers
#   PAGE=1000                         cursor page size, both clients
#   EMB_CHUNK=100                     objects per upsert call (transaction) into the embedded store
#   BENCH_DIR=target/bench-store      work directory (relative to the repository root)
#   ELY_BIN_DIR=                      use ely-store-bench and fake-weaviate from here
#                                     (otherwise they are built, into CARGO_TARGET_DIR if set)
#   VENV=~/.cache/ely-bench/venv-weaviate-client-3.26.7   the Python client's venv
#                                     (created with python3 -m venv and pip when missing)
# Needs bash, coreutils, awk, python3 (with venv and pip); GNU time (/usr/bin/time) for
# peak memory, when available.
set -euo pipefail
export LC_ALL=C

die() {
    printf 'bench-store: error: %s\n' "$*" >&2
    exit 1
}
say() { printf 'bench-store: %s\n' "$*" >&2; }

# --- settings ---------------------------------------------------------------------------------

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OBJECTS=${OBJECTS:-20000}
DIMS=${DIMS:-1536}
SEED=${SEED:-1}
RUNS=${RUNS:-3}
IN_FLIGHT=${IN_FLIGHT:-4}
PAGE=${PAGE:-1000}
EMB_CHUNK=${EMB_CHUNK:-100}
PY_CLIENT=weaviate-client==3.26.7
VENV=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ely-bench/venv-weaviate-client-3.26.7}
for v in OBJECTS DIMS SEED RUNS IN_FLIGHT PAGE EMB_CHUNK; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, not '${!v}'"
done
((RUNS >= 1 && OBJECTS >= 1 && DIMS >= 1 && IN_FLIGHT >= 1 && PAGE >= 1 && EMB_CHUNK >= 1)) ||
    die "RUNS, OBJECTS, DIMS, IN_FLIGHT, PAGE and EMB_CHUNK must be at least 1"

# --- tools ------------------------------------------------------------------------------------

command -v python3 >/dev/null 2>&1 || die "python3 not found"
HAVE_TIME=0
if [[ -x /usr/bin/time ]] && /usr/bin/time -f %M -o /dev/null true 2>/dev/null; then
    HAVE_TIME=1
else
    say "GNU time not found (apt-get install -y time): no peak memory or client CPU figures"
fi

if [[ -n ${ELY_BIN_DIR:-} ]]; then
    BIN=$(cd "$ELY_BIN_DIR" && pwd)
else
    command -v cargo >/dev/null 2>&1 || die "cargo not found (or set ELY_BIN_DIR to prebuilt binaries)"
    say "building release binaries"
    (cd "$ROOT" && cargo build --release -p ely-bench -p fake-weaviate --quiet)
    # Where cargo put them: CARGO_TARGET_DIR (relative to the repository root) or target/.
    TARGET_DIR=${CARGO_TARGET_DIR:-target}
    [[ $TARGET_DIR == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR
    BIN=$TARGET_DIR/release
fi
ELY=$BIN/ely-store-bench
FAKE=$BIN/fake-weaviate
[[ -x $ELY && -x $FAKE ]] || die "ely-store-bench and fake-weaviate not found in $BIN"

PY=$VENV/bin/python
py_client_ok() {
    "$PY" -c 'import importlib.metadata as m, sys; sys.exit(m.version("weaviate-client") != "3.26.7")' \
        2>/dev/null
}
if ! py_client_ok; then
    say "installing $PY_CLIENT into $VENV"
    mkdir -p "$(dirname "$VENV")"
    [[ -x $PY ]] || python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
    "$PY" -m pip install --quiet "$PY_CLIENT" >&2 || die "pip install $PY_CLIENT failed"
    py_client_ok || die "$PY_CLIENT is not importable from $VENV"
fi
PYBENCH=$ROOT/scripts/bench_store.py

# --- memory -----------------------------------------------------------------------------------

# The Python client holds every object as lists of Python floats (about 32 bytes a number),
# the server a class's vectors as float32, ely its objects as float32; the JSON lines file
# is about 12 bytes a number.
NUMBERS=$((OBJECTS * DIMS))
NEED_MB=$((NUMBERS * 48 / 1048576 + 500))
AVAIL_MB=$(awk '/^MemAvailable:/ { printf "%d", $2 / 1024 }' /proc/meminfo 2>/dev/null || echo 0)
say "memory: about $NEED_MB MiB needed at the peak, $AVAIL_MB MiB available"
if ((AVAIL_MB > 0 && AVAIL_MB < NEED_MB)); then
    die "not enough memory for OBJECTS=$OBJECTS DIMS=$DIMS: lower OBJECTS"
fi

# --- work directory and server ----------------------------------------------------------------

WORK=${BENCH_DIR:-target/bench-store}
[[ $WORK == /* ]] || WORK=$ROOT/$WORK
mkdir -p "$WORK"
cd "$WORK"
TIMEF=$(mktemp "$WORK/.time.XXXXXX")
OUTF=$(mktemp "$WORK/.out.XXXXXX")
SERVER_LOG=$WORK/fake-weaviate.log
SERVER_PID=""
cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -f "$TIMEF" "$OUTF" "$WORK"/embedded.db*
}
trap cleanup EXIT

say "generating $OBJECTS objects of $DIMS dimensions (seed $SEED) for the Python side"
"$ELY" gen --objects "$OBJECTS" --dims "$DIMS" --seed "$SEED" -o objects.jsonl
INPUT_BYTES=$(stat -c %s objects.jsonl)
cat objects.jsonl >/dev/null

# Port 0: the system picks a free port; the server prints its URL.
"$FAKE" --port 0 2>"$SERVER_LOG" &
SERVER_PID=$!
URL=""
for _ in $(seq 100); do
    URL=$(grep -o 'http://[0-9.:]*' "$SERVER_LOG" 2>/dev/null | head -n 1 || true)
    [[ -n $URL ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "fake-weaviate did not start: $(cat "$SERVER_LOG")"
    sleep 0.1
done
[[ -n $URL ]] || die "fake-weaviate did not print its URL"
say "fake-weaviate (pid $SERVER_PID) serving on $URL"
TICKS=$(getconf CLK_TCK)

# The server's CPU time so far (user + sys), in seconds; "-" when no server runs.
server_cpu() {
    if [[ -z $SERVER_PID ]]; then
        echo -
        return
    fi
    awk -v t="$TICKS" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$SERVER_PID/stat"
}

# --- measuring --------------------------------------------------------------------------------

COMMANDS=()
record() {
    local line c
    line=$(printf '%q ' "$@")
    line=${line% }
    for c in "${COMMANDS[@]+"${COMMANDS[@]}"}"; do [[ $c == "$line" ]] && return 0; done
    COMMANDS+=("$line")
}

# A field of the JSON line a bench command printed.
field() { # NAME
    sed -n "s/.*\"$1\": *\\([0-9.eE+-]*\\).*/\\1/p" "$OUTF" | head -n 1
}

# The whole machine's busy CPU time so far (user, nice, system, irq, softirq, steal), in s.
machine_busy() {
    awk -v t="$TICKS" '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / t; exit }' /proc/stat
}

# Run one timed command. Sets SECS, RATE and CCPU (the client's CPU s in its timed section)
# from its JSON line, RSS (KiB, peak of the whole process), SCPU (the server's CPU s during
# the command) and OTHER (CPU s the rest of the machine used meanwhile: busy time minus the
# client's whole process and the server).
run_once() { # CMD...
    local s0 s1 b0 b1 pcpu=""
    record "$@"
    s0=$(server_cpu)
    b0=$(machine_busy)
    if ((HAVE_TIME)); then
        /usr/bin/time -f '%M %U %S' -o "$TIMEF" "$@" >"$OUTF" ||
            die "command failed: $(printf '%q ' "$@")($(tail -n 1 "$TIMEF"))"
        read -r RSS pcpu < <(awk 'END { printf "%d %.2f\n", $1, $2 + $3 }' "$TIMEF")
    else
        "$@" >"$OUTF" || die "command failed: $(printf '%q ' "$@")"
        RSS=0
    fi
    b1=$(machine_busy)
    s1=$(server_cpu)
    if [[ $s0 == - ]]; then
        SCPU=-
    else
        SCPU=$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.2f", b - a }')
    fi
    if [[ -n $pcpu ]]; then
        OTHER=$(awk -v a="$b0" -v b="$b1" -v p="$pcpu" -v s="$SCPU" \
            'BEGIN { o = b - a - p - (s == "-" ? 0 : s); printf "%.2f", (o < 0 ? 0 : o) }')
    else
        OTHER=-
    fi
    SECS=$(field seconds)
    RATE=$(field objects_per_sec)
    CCPU=$(field cpu_seconds)
    [[ -n $SECS && -n $RATE ]] || die "no figures from $(printf '%q ' "$@"): $(cat "$OUTF")"
    SECS=$(awk -v x="$SECS" 'BEGIN { printf "%.3f", x }')
    RATE=$(awk -v x="$RATE" 'BEGIN { printf "%.0f", x }')
    if [[ -n $CCPU ]]; then CCPU=$(awk -v x="$CCPU" 'BEGIN { printf "%.2f", x }'); else CCPU=-; fi
    cat "$OUTF" >&2
}

# Best (minimum) time per key, with that run's figures; the highest RSS seen.
declare -A BEST_S BEST_RATE BEST_CPU BEST_SCPU BEST_OTHER PEAK_RSS
keep() { # KEY
    local k=$1
    if [[ -z ${BEST_S[$k]:-} ]] || awk -v a="$SECS" -v b="${BEST_S[$k]}" 'BEGIN { exit !(a < b) }'; then
        BEST_S[$k]=$SECS BEST_RATE[$k]=$RATE BEST_CPU[$k]=$CCPU BEST_SCPU[$k]=$SCPU
        BEST_OTHER[$k]=$OTHER
    fi
    if ((RSS > ${PEAK_RSS[$k]:-0})); then PEAK_RSS[$k]=$RSS; fi
}

LOAD_BEFORE=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)
SERVER_CPU_START=$(server_cpu)

for ((r = 1; r <= RUNS; r++)); do
    ely_class=BenchEly$r py_class=BenchPy$r

    say "run $r/$RUNS: ely import"
    run_once "$ELY" import --store "$URL" --class "$ely_class" --objects "$OBJECTS" --dims "$DIMS" \
        --seed "$SEED" --in-flight "$IN_FLIGHT"
    keep ely-import
    say "run $r/$RUNS: ely export"
    run_once "$ELY" export --store "$URL" --class "$ely_class" --page "$PAGE" --expect "$OBJECTS"
    keep ely-export

    say "run $r/$RUNS: python import"
    run_once "$PY" "$PYBENCH" import --url "$URL" --class "$py_class" --input objects.jsonl \
        --workers "$IN_FLIGHT" --batch-size 100
    keep py-import
    say "run $r/$RUNS: python export"
    run_once "$PY" "$PYBENCH" export --url "$URL" --class "$py_class" --page "$PAGE" --expect "$OBJECTS"
    keep py-export

    if ((r == RUNS)); then
        # Correctness, untimed: ely reads back both clients' classes and compares every
        # object (id, properties, vector bits) with the generated ones.
        say "checking both classes bit for bit"
        for c in "$ely_class" "$py_class"; do
            record "$ELY" export --store "$URL" --class "$c" --page "$PAGE" --expect "$OBJECTS" \
                --verify --objects "$OBJECTS" --dims "$DIMS" --seed "$SEED"
            "$ELY" export --store "$URL" --class "$c" --page "$PAGE" --expect "$OBJECTS" \
                --verify --objects "$OBJECTS" --dims "$DIMS" --seed "$SEED" >"$OUTF" ||
                die "class $c does not hold the generated objects"
            grep -q '"verified":true' "$OUTF" || die "class $c was not verified: $(cat "$OUTF")"
        done
    fi
    # Free the server's memory before the next run.
    "$ELY" drop --store "$URL" --class "$ely_class"
    "$ELY" drop --store "$URL" --class "$py_class"
done

SERVER_CPU_END=$(server_cpu)
SERVER_RSS=$(awk '/^VmHWM:/ { printf "%d", $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

# The embedded store, on its own (no server): a fresh file each run, on the work directory's
# file system. It writes one transaction per upsert call (synchronous=FULL: one fsync each),
# so the import runs once with EMB_CHUNK objects per call (a batch, as an import reading a
# stream would write) and once with all objects in one call; the export reads the first.
for ((r = 1; r <= RUNS; r++)); do
    for chunk in "$EMB_CHUNK" 0; do
        rm -f embedded.db embedded.db-wal embedded.db-shm
        say "run $r/$RUNS: embedded import, chunk $chunk"
        run_once "$ELY" import --store embedded.db --class Bench --objects "$OBJECTS" \
            --dims "$DIMS" --seed "$SEED" --chunk "$chunk"
        keep "emb-import-$chunk"
        if [[ $chunk == 0 ]]; then continue; fi
        say "run $r/$RUNS: embedded export"
        if ((r == RUNS)); then
            # The last run checks what it read (after its clock stops).
            run_once "$ELY" export --store embedded.db --class Bench --page "$PAGE" \
                --expect "$OBJECTS" --verify --objects "$OBJECTS" --dims "$DIMS" --seed "$SEED"
            grep -q '"verified":true' "$OUTF" || die "the embedded store was not verified"
            EMB_BYTES=$(stat -c %s embedded.db 2>/dev/null || echo 0)
        else
            run_once "$ELY" export --store embedded.db --class Bench --page "$PAGE" \
                --expect "$OBJECTS"
        fi
        keep emb-export
    done
done
rm -f embedded.db embedded.db-wal embedded.db-shm
LOAD_AFTER=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)

# --- report -----------------------------------------------------------------------------------

GOALS_MISSED=0
mib() { [[ $1 == 0 ]] && echo - || awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
mem_total=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576; exit }' /proc/meminfo 2>/dev/null || true)
commit=""
if command -v git >/dev/null 2>&1; then
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || true)
    [[ -n $commit ]] && ! git -C "$ROOT" diff --quiet HEAD 2>/dev/null && commit+=" (modified)"
fi

echo "# ely store benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
echo "machine:  nproc $(nproc), ${cpu_model:-unknown cpu}, ${mem_total:-? GiB} RAM, $(uname -sr)"
echo "load:     $LOAD_BEFORE at the start, $LOAD_AFTER at the end (1/5/15-minute averages)"
echo "python:   $("$PY" --version 2>&1), $PY_CLIENT (v3 API, REST) in $VENV"
echo "ely:      ${commit:+commit $commit, }release build"
echo "server:   fake-weaviate (in-memory test server) at $URL, one process for all runs;"
echo "          it shares the machine's cores with the client being timed"
echo "objects:  $OBJECTS x $DIMS dims, seed $SEED (objects.jsonl for Python: $INPUT_BYTES bytes)"
echo "method:   best wall time of $RUNS runs (ely and Python alternating); generating or loading"
echo "          the objects is not timed. For the best run: client cpu = the client's user+sys"
echo "          in its timed section, server cpu = the server's user+sys during the command,"
echo "          other cpu = what the rest of the machine (other processes, kernel threads) used"
echo "          during the command (its untimed part included);"
echo "          RSS = the client's peak over the runs (GNU time), objects held in memory included"
echo
echo "commands (in $WORK):"
echo "  $FAKE --port 0"
for c in "${COMMANDS[@]}"; do echo "  $c"; done
echo

FMT='%-7s %-7s %-9s %9s %10s %11s %11s %10s %8s\n'
# shellcheck disable=SC2059
printf "$FMT" step client store "best s" "objects/s" "client cpu" "server cpu" "other cpu" "RSS MiB"
row() { # STEP CLIENT STORE KEY
    local k=$4
    # shellcheck disable=SC2059
    printf "$FMT" "$1" "$2" "$3" "${BEST_S[$k]}" "${BEST_RATE[$k]}" "${BEST_CPU[$k]}" \
        "${BEST_SCPU[$k]}" "${BEST_OTHER[$k]}" "$(mib "${PEAK_RSS[$k]:-0}")"
}
row import ely fake-wv ely-import
row import python fake-wv py-import
row export ely fake-wv ely-export
row export python fake-wv py-export
row import ely "emb/$EMB_CHUNK" "emb-import-$EMB_CHUNK"
row import ely emb/all emb-import-0
row export ely embedded emb-export
echo
echo "server: $(awk -v a="$SERVER_CPU_START" -v b="$SERVER_CPU_END" 'BEGIN { printf "%.1f", b - a }') s CPU over the server runs, peak RSS $(mib "$SERVER_RSS") MiB;"
echo "embedded store file: $EMB_BYTES bytes; emb/$EMB_CHUNK = $EMB_CHUNK objects per upsert call (one"
echo "transaction each), emb/all = all objects in one call"
echo

GFMT='%-52s %9s %-8s %s\n'
# shellcheck disable=SC2059
printf "$GFMT" goal value target ""
goal() { # TEXT VALUE OP TARGET (no OP: information, no verdict)
    local v=met
    if [[ -z $3 ]]; then
        v=""
    elif ! awk -v x="$2" -v g="$4" -v op="$3" 'BEGIN { exit !(op == ">=" ? x >= g : x <= g) }'; then
        v=MISSED
        GOALS_MISSED=$((GOALS_MISSED + 1))
    fi
    # shellcheck disable=SC2059
    printf "$GFMT" "$1" "$2" "${3:+$3 $4}" "$v"
}
goal "import: ely client speedup over Python (py s / ely s)" \
    "$(ratio "${BEST_S[py-import]}" "${BEST_S[ely-import]}")" ">=" 5
goal "export: ely client speedup over Python (py s / ely s)" \
    "$(ratio "${BEST_S[py-export]}" "${BEST_S[ely-export]}")" ">=" 5
goal "import: ely client objects/s, $IN_FLIGHT in flight" "${BEST_RATE[ely-import]}" ">=" 5000
goal "import: embedded ($EMB_CHUNK a call) speedup over Python" \
    "$(ratio "${BEST_S[py-import]}" "${BEST_S[emb-import-$EMB_CHUNK]}")" ">=" 5
goal "export: embedded speedup over Python" \
    "$(ratio "${BEST_S[py-export]}" "${BEST_S[emb-export]}")" ">=" 5
goal "import: embedded objects/s ($EMB_CHUNK a call)" "${BEST_RATE[emb-import-$EMB_CHUNK]}" ">=" 5000
# For reading the figures: the clients' own CPU (whatever the server does), and how much of
# the ely client's wall time the server spent on the CPU.
goal "import: client CPU, Python / ely (info)" "$(ratio "${BEST_CPU[py-import]}" "${BEST_CPU[ely-import]}")" "" ""
goal "export: client CPU, Python / ely (info)" "$(ratio "${BEST_CPU[py-export]}" "${BEST_CPU[ely-export]}")" "" ""
goal "import: ely, server CPU s per wall s (info)" "$(ratio "${BEST_SCPU[ely-import]}" "${BEST_S[ely-import]}")" "" ""
goal "export: ely, server CPU s per wall s (info)" "$(ratio "${BEST_SCPU[ely-export]}" "${BEST_S[ely-export]}")" "" ""
echo
echo "correctness: ely read back the classes both clients wrote, and the embedded store, and"
echo "found every object with the generated properties and vector bits"
if ((GOALS_MISSED)); then
    echo "goals: $GOALS_MISSED missed"
else
    echo "goals: all met"
fi
