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
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"

# --- settings ---------------------------------------------------------------------------------

OBJECTS=${OBJECTS:-20000}
DIMS=${DIMS:-1536}
SEED=${SEED:-1}
RUNS=${RUNS:-3}
IN_FLIGHT=${IN_FLIGHT:-4}
PAGE=${PAGE:-1000}
EMB_CHUNK=${EMB_CHUNK:-100}
check_uints OBJECTS DIMS SEED RUNS IN_FLIGHT PAGE EMB_CHUNK
((RUNS >= 1 && OBJECTS >= 1 && DIMS >= 1 && IN_FLIGHT >= 1 && PAGE >= 1 && EMB_CHUNK >= 1)) ||
    die "RUNS, OBJECTS, DIMS, IN_FLIGHT, PAGE and EMB_CHUNK must be at least 1"

# --- tools ------------------------------------------------------------------------------------

command -v python3 >/dev/null 2>&1 || die "python3 not found"
HAVE_TIME=0
if have_gnu_time; then
    HAVE_TIME=1
else
    say "GNU time not found (apt-get install -y time): no peak memory or client CPU figures"
fi

find_bins "-p ely-bench -p fake-weaviate"
need_bins ely-store-bench fake-weaviate
ELY=$BIN/ely-store-bench
FAKE=$BIN/fake-weaviate

python_client
PYBENCH=$ROOT/scripts/bench_store.py

# --- memory, work directory and server --------------------------------------------------------

check_memory
enter_work target/bench-store
TIMEF=$(mktemp "$WORK/.time.XXXXXX")
OUTF=$(mktemp "$WORK/.out.XXXXXX")
cleanup() {
    stop_server
    rm -f "$TIMEF" "$OUTF" "$WORK"/embedded.db*
}
trap cleanup EXIT

gen_objects "$ELY" "for the Python side"
start_server "$FAKE"

# --- measuring --------------------------------------------------------------------------------

record() { record_line "$(quoted "$@")"; }

# Run one timed command. Sets SECS, RATE and CCPU (the client's CPU s in its timed section)
# from its JSON line, RSS (KiB, peak of the whole process), SCPU (the server's CPU s during
# the command) and OTHER (CPU s the rest of the machine used meanwhile: busy time minus the
# client's whole process and the server).
run_once() { # CMD...
    local pcpu=""
    record "$@"
    cpu_start
    if ((HAVE_TIME)); then
        /usr/bin/time -f '%M %U %S' -o "$TIMEF" "$@" >"$OUTF" ||
            die "command failed: $(printf '%q ' "$@")($(tail -n 1 "$TIMEF"))"
        read -r RSS pcpu < <(awk 'END { printf "%d %.2f\n", $1, $2 + $3 }' "$TIMEF")
    else
        "$@" >"$OUTF" || die "command failed: $(printf '%q ' "$@")"
        RSS=0
    fi
    cpu_stop
    OTHER=$(other_cpu "$pcpu")
    SECS=$(field seconds)
    RATE=$(field objects_per_sec)
    CCPU=$(field cpu_seconds)
    [[ -n $SECS && -n $RATE ]] || die "no figures from $(printf '%q ' "$@"): $(cat "$OUTF")"
    SECS=$(awk -v x="$SECS" 'BEGIN { printf "%.3f", x }')
    RATE=$(awk -v x="$RATE" 'BEGIN { printf "%.0f", x }')
    if [[ -n $CCPU ]]; then CCPU=$(awk -v x="$CCPU" 'BEGIN { printf "%.2f", x }'); else CCPU=-; fi
    cat "$OUTF" >&2
}

LOAD_BEFORE=$(load_avg)
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
SERVER_RSS=$(server_rss)
stop_server

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
LOAD_AFTER=$(load_avg)

# --- report -----------------------------------------------------------------------------------

commit=$(tree_commit)
report_head "ely store benchmark" "$LOAD_BEFORE" "$LOAD_AFTER"
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
report_commands "$FAKE --port 0"

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
goal_header
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
report_goals
