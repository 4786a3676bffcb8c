#!/usr/bin/env bash
# bench-backup.sh: ely-restore and ely-backup against the official Python client
# (weaviate-client 3.26.7, REST), side by side, in one run, on the same objects and the same
# server; then the embedded store on its own, and the memory of a large backup | restore pipe.
#
#   restore  ely-restore --store URL --collection C --workers W -i objects.jsonl --quiet
#            vs  bench_backup.py restore (client.batch, batch_size=100, num_workers=W)
#   backup   ely-backup --store URL --collection C -o FILE --quiet (and to stdout, | cat)
#            vs  bench_backup.py backup (data_object.get(after=..., additional_properties=
#                ["vector"]), each object written as a JSON line to a file)
#   embedded ely-restore and ely-backup of the same objects with --store emb.db
#   memory   ely-backup --store src.db -c M | ely-restore --store dst.db -c D, OBJECTS_MEM
#            objects (about 1 GB of stream at 1536 dims), peak RSS of each side
#
# Both clients talk to ONE fake-weaviate release server (crates/fake-weaviate) on a free port;
# each run restores into its own fresh classes (auto-schema creates them, for both clients),
# backs them up, and deletes them. The objects are generated once (`ely-store-bench gen`,
# object lines without "class"), before any clock starts. ely's times are whole processes;
# Python's "best s" is its timed section only (loading the objects and starting the
# interpreter are left out), its whole process is shown as well. After the last server run,
# ely backs up the Python client's class too, and every backup (ely's of both classes,
# Python's, the embedded store's) is compared with the generated objects: ids, properties,
# vector bits, and the vector text of ely's two backups from the server. Missing a goal is
# reported, not fatal; a wrong result is (exit 1).
#
# The report goes to stdout; progress goes to stderr.
# Settings (environment):
#   OBJECTS=20000 DIMS=1536 SEED=1    the objects
#   SHAPE=generated                   generated: short text, vector numbers uniform in [-1, 1),
#                                     no "class"; weaviate: as `curl .../v1/objects | jq -c
#                                     '.objects[]'` gives them (class, timestamps, 1-12 KB of
#                                     code per object, unit-length embedding vectors)
#   RUNS=3                            repetitions; the best (minimum) wall time counts
#   WORKERS=4                         ely-restore --workers; the Python client's num_workers
#   PAGE=1000                         cursor page size, both clients
#   OBJECTS_MEM=60000                 objects streamed through the memory pipe (0: skip it)
#   BENCH_DIR=target/bench-backup     work directory (relative to the repository root)
#   ELY_BIN_DIR=                      use ely-backup, ely-restore, ely-store-bench and
#                                     fake-weaviate from here (else: cargo build --release)
#   VENV=~/.cache/ely-bench/venv-weaviate-client-3.26.7   the Python client's venv
#                                     (created with python3 -m venv and pip when missing)
# Needs bash 5, coreutils, awk, python3 (with venv and pip), GNU time (/usr/bin/time).
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"

# --- settings ---------------------------------------------------------------------------------

OBJECTS=${OBJECTS:-20000}
DIMS=${DIMS:-1536}
SEED=${SEED:-1}
RUNS=${RUNS:-3}
WORKERS=${WORKERS:-4}
PAGE=${PAGE:-1000}
OBJECTS_MEM=${OBJECTS_MEM:-60000}
SHAPE=${SHAPE:-generated}
[[ $SHAPE == generated || $SHAPE == weaviate ]] || die "SHAPE must be generated or weaviate"
check_uints OBJECTS DIMS SEED RUNS WORKERS PAGE OBJECTS_MEM
((RUNS >= 1 && OBJECTS >= 1 && DIMS >= 1 && WORKERS >= 1 && PAGE >= 1)) ||
    die "RUNS, OBJECTS, DIMS, WORKERS and PAGE must be at least 1"
[[ -n ${EPOCHREALTIME:-} ]] || die "bash 5 needed (EPOCHREALTIME)"

# --- tools ------------------------------------------------------------------------------------

command -v python3 >/dev/null 2>&1 || die "python3 not found"
have_gnu_time || die "GNU time not found (apt-get install -y time): it measures peak memory"

find_bins "--bin ely-backup --bin ely-restore -p ely" "-p ely-bench -p fake-weaviate"
need_bins ely-backup ely-restore ely-store-bench fake-weaviate
BACKUP=$BIN/ely-backup
RESTORE=$BIN/ely-restore
GEN=$BIN/ely-store-bench
FAKE=$BIN/fake-weaviate

python_client
PYBENCH=$ROOT/scripts/bench_backup.py

# --- memory and disk --------------------------------------------------------------------------

check_memory
enter_work target/bench-backup
# objects.jsonl and six backup files of it (about 12 bytes a number each), two embedded
# stores of OBJECTS_MEM objects.
NEED_DISK_MB=$(((OBJECTS * DIMS * 12 * 7 + OBJECTS_MEM * DIMS * 12) / 1048576 + 200))
AVAIL_DISK_MB=$(df -Pm . | awk 'NR == 2 { print $4 }')
say "disk: about $NEED_DISK_MB MiB needed in $WORK, $AVAIL_DISK_MB MiB available"
((AVAIL_DISK_MB >= NEED_DISK_MB)) || die "not enough disk space in $WORK"

# --- work directory and server ----------------------------------------------------------------

TIMEF=$(mktemp "$WORK/.time.XXXXXX")
TIMEF2=$(mktemp "$WORK/.time2.XXXXXX")
OUTF=$(mktemp "$WORK/.out.XXXXXX")
remove_outputs() {
    rm -f "$WORK"/*.db "$WORK"/*.db-wal "$WORK"/*.db-shm "$WORK"/*.db-journal "$WORK"/backup-*.jsonl \
        "$WORK"/*.rejected.jsonl
}
cleanup() {
    stop_server
    rm -f "$TIMEF" "$TIMEF2" "$OUTF"
    remove_outputs
}
trap cleanup EXIT
remove_outputs

gen_objects "$GEN"
start_server "$FAKE"

# --- measuring --------------------------------------------------------------------------------

# A command line for the report, with this run's class names replaced by placeholders.
shown() { # CMD...
    local line
    line=$(quoted "$@")
    line=${line//"$BIN/"/}
    line=${line//"$VENV/bin/"/}
    line=${line//"$ROOT/scripts/"/scripts/}
    line=${line//"$URL"/URL}
    printf '%s' "$line" | sed -E 's/\b(Ely|Py)Run[0-9]+\b/\1Run$r/g; s/-run[0-9]+\./-run$r./g'
}

# The sum of a number field over the JSON lines in $OUTF.
field_sum() { # NAME
    awk -v f="\"$1\":" '{ i = index($0, f); if (i) s += substr($0, i + length(f)) + 0 } END { printf "%d", s }' "$OUTF"
}
fmt() { awk -v x="$1" -v f="$2" 'BEGIN { printf f, x }'; }

# Run one timed command, its stdout to $OUTF (or to a pipe into `cat > /dev/null` with
# PIPE_CAT=1). Sets WALL (s, the whole process), SECS (the figure that counts: the timed
# section a Python command reports, else WALL), RATE (objects/s over SECS), CCPU (the client's
# CPU s: its timed section for Python, the whole process for ely), RSS (KiB, peak of the whole
# process), SCPU (the server's CPU s during the command) and OTHER (CPU s the rest of the
# machine used meanwhile: busy time minus the client's whole process and the server).
run_once() { # CMD...
    local t0 t1 pcpu
    record_line "$(shown "$@")${PIPE_CAT:+ | cat > /dev/null}"
    cpu_start
    t0=$EPOCHREALTIME
    if [[ -n ${PIPE_CAT:-} ]]; then
        /usr/bin/time -f '%M %U %S' -o "$TIMEF" "$@" | cat >/dev/null ||
            die "command failed: $(shown "$@") | cat ($(tail -n 1 "$TIMEF"))"
        : >"$OUTF"
    else
        /usr/bin/time -f '%M %U %S' -o "$TIMEF" "$@" >"$OUTF" ||
            die "command failed: $(shown "$@") ($(tail -n 1 "$TIMEF"))"
    fi
    t1=$EPOCHREALTIME
    cpu_stop
    read -r RSS pcpu < <(awk 'END { printf "%d %.2f\n", $1, $2 + $3 }' "$TIMEF")
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    OTHER=$(other_cpu "$pcpu")
    SECS="" CCPU=""
    if grep -q '"tool": "python"' "$OUTF"; then
        SECS=$(field seconds)
        CCPU=$(field cpu_seconds)
    fi
    if [[ -n $SECS ]]; then
        SECS=$(fmt "$SECS" %.3f)
        CCPU=$(fmt "${CCPU:-0}" %.2f)
    else
        SECS=$WALL
        CCPU=$pcpu
    fi
    RATE=$(awk -v n="$OBJECTS" -v s="$SECS" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
    if [[ -s $OUTF ]]; then tail -n 1 "$OUTF" | cut -c 1-300 >&2; fi
    say "  $SECS s, $RATE objects/s, peak RSS $((RSS / 1024)) MiB"
}

# Checks of what a command printed in $OUTF.
restore_ok() { # WHAT
    local written rejected
    written=$(field_sum written)
    rejected=$(field_sum rejected)
    ((written == OBJECTS && rejected == 0)) ||
        die "$1: $written objects written, $rejected rejected, expected $OBJECTS written"
}
manifest_ok() { # WHAT FILE
    local n
    n=$(field objects)
    [[ $n == "$OBJECTS" ]] || die "$1: the manifest counts ${n:-no} objects, expected $OBJECTS"
    n=$(tail -n 1 "$2" | sed -n 's/.*"ely":"trailer".*"objects":\([0-9]*\).*/\1/p')
    [[ $n == "$OBJECTS" ]] || die "$1: the trailer of $2 counts ${n:-no} objects, expected $OBJECTS"
}
lines_ok() { # WHAT FILE
    local n
    n=$(wc -l <"$2")
    ((n == OBJECTS)) || die "$1: $2 holds $n lines, expected $OBJECTS"
}

LOAD_BEFORE=$(load_avg)
SERVER_CPU_START=$(server_cpu)

for ((r = 1; r <= RUNS; r++)); do
    ely_class=ElyRun$r py_class=PyRun$r

    say "run $r/$RUNS: ely-restore into $ely_class"
    run_once "$RESTORE" --store "$URL" --collection "$ely_class" --workers "$WORKERS" \
        -i objects.jsonl --quiet
    restore_ok "ely-restore into $ely_class"
    keep ely-restore
    say "run $r/$RUNS: ely-backup of $ely_class to a file"
    rm -f "backup-ely-run$r.jsonl"
    run_once "$BACKUP" --store "$URL" --collection "$ely_class" -o "backup-ely-run$r.jsonl" --quiet
    manifest_ok "ely-backup of $ely_class" "backup-ely-run$r.jsonl"
    keep ely-backup
    say "run $r/$RUNS: ely-backup of $ely_class to stdout"
    PIPE_CAT=1 run_once "$BACKUP" --store "$URL" --collection "$ely_class" --quiet
    keep ely-backup-stdout

    say "run $r/$RUNS: python restore into $py_class"
    run_once "$PY" "$PYBENCH" restore --url "$URL" --class "$py_class" --input objects.jsonl \
        --workers "$WORKERS" --batch-size 100
    keep py-restore
    say "run $r/$RUNS: python backup of $py_class"
    run_once "$PY" "$PYBENCH" backup --url "$URL" --class "$py_class" --page "$PAGE" \
        --output "backup-py-run$r.jsonl" --expect "$OBJECTS"
    lines_ok "python backup of $py_class" "backup-py-run$r.jsonl"
    keep py-backup

    if ((r == RUNS)); then
        # Kept for the check at the end: ely's backup of both classes and Python's.
        say "ely-backup of $py_class, for the check"
        rm -f backup-elyofpy.jsonl
        "$BACKUP" --store "$URL" --collection "$py_class" -o backup-elyofpy.jsonl --quiet >"$OUTF" ||
            die "ely-backup of $py_class failed"
        manifest_ok "ely-backup of $py_class" backup-elyofpy.jsonl
        mv "backup-ely-run$r.jsonl" backup-ely.jsonl
        mv "backup-py-run$r.jsonl" backup-py.jsonl
    else
        rm -f "backup-ely-run$r.jsonl" "backup-py-run$r.jsonl"
    fi
    # Free the server's memory before the next run.
    "$GEN" drop --store "$URL" --class "$ely_class"
    "$GEN" drop --store "$URL" --class "$py_class"
done

SERVER_CPU_END=$(server_cpu)
SERVER_RSS=$(server_rss)
stop_server

# The embedded store, on its own (no server): a fresh file each run, on the work directory's
# file system.
for ((r = 1; r <= RUNS; r++)); do
    rm -f emb.db emb.db-wal emb.db-shm emb.db-journal
    say "run $r/$RUNS: ely-restore into the embedded store"
    run_once "$RESTORE" --store emb.db --collection Bench --workers "$WORKERS" -i objects.jsonl --quiet
    restore_ok "ely-restore into emb.db"
    keep emb-restore
    say "run $r/$RUNS: ely-backup of the embedded store"
    rm -f backup-emb.jsonl
    run_once "$BACKUP" --store emb.db --collection Bench -o backup-emb.jsonl --quiet
    manifest_ok "ely-backup of emb.db" backup-emb.jsonl
    keep emb-backup
done
EMB_BYTES=$(stat -c %s emb.db 2>/dev/null || echo 0)
rm -f emb.db emb.db-wal emb.db-shm emb.db-journal

# --- memory: a large backup | restore pipe ----------------------------------------------------

if ((OBJECTS_MEM > 0)); then
    say "memory: writing $OBJECTS_MEM objects of $DIMS dimensions into src.db"
    rm -f src.db* dst.db*
    "$GEN" gen --objects "$OBJECTS_MEM" --dims "$DIMS" --seed "$SEED" |
        "$RESTORE" --store src.db --collection Mem --quiet >"$OUTF" ||
        die "writing src.db failed"
    [[ $(field_sum written) == "$OBJECTS_MEM" ]] || die "src.db: $(field_sum written) objects written, expected $OBJECTS_MEM"
    MEM_CMD="ely-backup --store src.db --collection Mem --stats --quiet | ely-restore --store dst.db --collection MemCopy --quiet"
    say "memory: $MEM_CMD"
    t0=$EPOCHREALTIME
    /usr/bin/time -f '%M %U %S' -o "$TIMEF" "$BACKUP" --store src.db --collection Mem --stats --quiet \
        2>mem-backup.stats |
        /usr/bin/time -f '%M %U %S' -o "$TIMEF2" "$RESTORE" --store dst.db --collection MemCopy --quiet \
            >"$OUTF" || die "the backup | restore pipe failed: $(cat mem-backup.stats)"
    t1=$EPOCHREALTIME
    MEM_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    MEM_RSS_B=$(awk 'END { print $1 }' "$TIMEF")
    MEM_RSS_R=$(awk 'END { print $1 }' "$TIMEF2")
    MEM_STREAM=$(sed -n 's/.*"bytes_out": *\([0-9]*\).*/\1/p' mem-backup.stats)
    MEM_SENT=$(sed -n 's/.*"objects": *\([0-9]*\).*/\1/p' mem-backup.stats)
    MEM_WRITTEN=$(field_sum written)
    MEM_REJECTED=$(field_sum rejected)
    MEM_DST=$("$BACKUP" --store dst.db --collection MemCopy --quiet | tail -n 1 |
        sed -n 's/.*"ely":"trailer".*"objects":\([0-9]*\).*/\1/p')
    rm -f mem-backup.stats
    say "memory: $MEM_SENT objects sent, $MEM_WRITTEN written, $MEM_DST in dst.db"
    [[ $MEM_SENT == "$OBJECTS_MEM" && $MEM_WRITTEN == "$OBJECTS_MEM" && $MEM_REJECTED == 0 &&
        $MEM_DST == "$OBJECTS_MEM" ]] ||
        die "memory pipe: $MEM_SENT objects sent, $MEM_WRITTEN written, $MEM_REJECTED rejected, $MEM_DST in dst.db; expected $OBJECTS_MEM"
    rm -f src.db* dst.db*
fi
LOAD_AFTER=$(load_avg)

# --- correctness ------------------------------------------------------------------------------

# Every backup against the generated objects (ids, properties, vector bits); ely's backups of
# the two server classes carry the same vector text, as they come from the same server.
say "checking the backups against the generated objects"
python3 "$PYBENCH" check --input objects.jsonl --text backup-ely.jsonl --text backup-elyofpy.jsonl \
    backup-py.jsonl backup-emb.jsonl >"$OUTF" || die "the backups do not hold the generated objects"
grep -q '"ok": true' "$OUTF" || die "the check did not pass: $(cat "$OUTF")"

# --- report -----------------------------------------------------------------------------------

commit=$(tree_commit)
report_head "ely backup/restore benchmark" "$LOAD_BEFORE" "$LOAD_AFTER"
echo "python:   $("$PY" --version 2>&1), $PY_CLIENT (v3 API, REST) in $VENV"
echo "ely:      ${commit:+commit $commit, }release build, $BIN"
echo "server:   fake-weaviate (in-memory test server) at URL=$URL, one process for all runs;"
echo "          it shares the machine's cores with the client being timed"
if [[ $SHAPE == weaviate ]]; then
    echo "objects:  $OBJECTS x $DIMS dims, seed $SEED, shaped as Weaviate's REST API gives them"
    echo "          (objects.jsonl: $INPUT_BYTES bytes; class, timestamps, 1-12 KB of code each)"
else
    echo "objects:  $OBJECTS x $DIMS dims, seed $SEED (objects.jsonl: $INPUT_BYTES bytes, no \"class\")"
fi
echo "method:   best of $RUNS runs (ely and Python alternating), each run into fresh classes"
echo "          ElyRun\$r and PyRun\$r (created by auto-schema), deleted after the run."
echo "          best s = ely's whole process; Python's timed section only (without starting"
echo "          the interpreter and loading objects.jsonl), process s = the whole process for"
echo "          both; client cpu = user+sys of ely's process / of Python's timed section;"
echo "          server cpu = the server's user+sys during the command; other cpu = what the"
echo "          rest of the machine used meanwhile; RSS = the client's peak over the runs"
echo
report_commands "fake-weaviate --port 0"

FMT='%-8s %-7s %-9s %8s %9s %10s %10s %10s %9s %8s\n'
header() {
    # shellcheck disable=SC2059
    printf "$FMT" step client store "best s" "process s" "objects/s" "client cpu" "server cpu" \
        "other cpu" "RSS MiB"
}
row() { # STEP CLIENT STORE KEY
    local k=$4
    # shellcheck disable=SC2059
    printf "$FMT" "$1" "$2" "$3" "${BEST_S[$k]}" "${BEST_WALL[$k]}" "${BEST_RATE[$k]}" "${BEST_CPU[$k]}" \
        "${BEST_SCPU[$k]}" "${BEST_OTHER[$k]}" "$(mib "${PEAK_RSS[$k]:-0}")"
}
echo "## Weaviate (fake-weaviate), ely vs the Python client"
header
row restore ely fake-wv ely-restore
row restore python fake-wv py-restore
row backup ely fake-wv ely-backup
row backup ely "fw|cat" ely-backup-stdout
row backup python fake-wv py-backup
echo
echo "server: $(awk -v a="$SERVER_CPU_START" -v b="$SERVER_CPU_END" 'BEGIN { printf "%.1f", b - a }') s CPU over the server runs, peak RSS $(mib "$SERVER_RSS") MiB;"
echo "fw|cat = ely-backup to stdout, piped into cat > /dev/null"
echo
echo "## The embedded store (ely on its own), with the Python client on Weaviate for reference"
header
row restore ely embedded emb-restore
row restore python fake-wv py-restore
row backup ely embedded emb-backup
row backup python fake-wv py-backup
echo
echo "embedded store file: $EMB_BYTES bytes"
echo
if ((OBJECTS_MEM > 0)); then
    echo "## Memory: $OBJECTS_MEM objects x $DIMS dims through a pipe, embedded store to embedded store"
    echo "  $MEM_CMD"
    echo "stream: $MEM_STREAM bytes ($(awk -v b="$MEM_STREAM" 'BEGIN { printf "%.2f", b / 1073741824 }') GiB), $MEM_WALL s wall,"
    echo "        $(awk -v n="$OBJECTS_MEM" -v s="$MEM_WALL" 'BEGIN { printf "%.0f", n / s }') objects/s"
    echo "peak RSS: ely-backup $(mib "$MEM_RSS_B") MiB, ely-restore $(mib "$MEM_RSS_R") MiB"
    echo "counts: $MEM_SENT objects in the stream (ely-backup --stats), $MEM_WRITTEN written"
    echo "        (ely-restore's result lines), $MEM_DST in the trailer of ely-backup of dst.db"
    echo
fi

GFMT='%-56s %9s %-8s %s\n'
goal_header
goal "restore: ely-restore objects/s, $WORKERS workers" "${BEST_RATE[ely-restore]}" ">=" 5000
goal "restore: ely speedup over Python (py s / ely s)" \
    "$(ratio "${BEST_S[py-restore]}" "${BEST_S[ely-restore]}")" ">=" 5
goal "backup: ely speedup over Python (py s / ely s)" \
    "$(ratio "${BEST_S[py-backup]}" "${BEST_S[ely-backup]}")" ">=" 5
goal "restore: embedded objects/s" "${BEST_RATE[emb-restore]}" ">=" 10000
if ((OBJECTS_MEM > 0)); then
    goal "memory: ely-backup peak RSS, MiB" "$(mib "$MEM_RSS_B")" "<=" 100
    goal "memory: ely-restore peak RSS, MiB" "$(mib "$MEM_RSS_R")" "<=" 100
fi
goal "restore: speedup over Python, whole processes (info)" \
    "$(ratio "${BEST_WALL[py-restore]}" "${BEST_WALL[ely-restore]}")" "" ""
goal "backup: speedup over Python, whole processes (info)" \
    "$(ratio "${BEST_WALL[py-backup]}" "${BEST_WALL[ely-backup]}")" "" ""
goal "restore: embedded speedup over Python on Weaviate (info)" \
    "$(ratio "${BEST_S[py-restore]}" "${BEST_S[emb-restore]}")" "" ""
goal "backup: embedded speedup over Python on Weaviate (info)" \
    "$(ratio "${BEST_S[py-backup]}" "${BEST_S[emb-backup]}")" "" ""
goal "restore: ely, server CPU s per wall s (info)" \
    "$(ratio "${BEST_SCPU[ely-restore]}" "${BEST_S[ely-restore]}")" "" ""
goal "backup: ely, server CPU s per wall s (info)" \
    "$(ratio "${BEST_SCPU[ely-backup]}" "${BEST_S[ely-backup]}")" "" ""
echo
echo "correctness: every run's restores counted $OBJECTS objects (ely's result lines, the server's"
echo "count for Python) and every backup held $OBJECTS; the last run's backups (ely's of both"
echo "classes, Python's, the embedded store's) hold the generated ids, properties and vector"
echo "bits, and ely's backups of the two classes the same vector text"
report_goals
