#!/usr/bin/env bash
# bench-parquet.sh: ely-convert between JSON lines and Parquet against pyarrow and DuckDB,
# side by side, in one run, on the same generated stream.
#
#   to Parquet  ely-convert -i objects.jsonl -o ely.parquet
#               vs  pyarrow: pyarrow.json.read_json(plain.jsonl) + pyarrow.parquet.write_table(
#                   py.parquet, compression="zstd") (its thread pool uses every core)
#               vs  DuckDB: SET threads=$DUCK_THREADS; COPY (SELECT * FROM
#                   read_json('plain.jsonl')) TO 'duck.parquet' (FORMAT parquet, COMPRESSION zstd)
#   to JSONL    ely-convert -i ely.parquet -o back.jsonl
#               vs  DuckDB: COPY (SELECT * FROM 'duck.parquet') TO 'duck.jsonl' (FORMAT json)
#   sizes       objects.jsonl against ely.parquet, py.parquet and duck.parquet
#   memory      peak RSS of ely-convert both ways on OBJECTS_MEM objects (about 1 GB of JSON
#               lines at 60000 x 1536 dims)
#
# The stream comes from ely-gen in its realistic mode (a header line, OBJECTS object lines
# with DIMS-dimension unit-length float32 vectors, code-like text with a large vocabulary,
# int, date and text[] properties, a trailer line). pyarrow and
# DuckDB read plain.jsonl, its object lines only (the header and trailer stripped with grep
# before any clock starts): they would take the header and trailer for rows. Each tool reads
# its own Parquet back (DuckDB duck.parquet, ely ely.parquet). Every timed figure is a whole
# process (Python's start-up and imports included, as a user running the tool pays them),
# best of RUNS, the tools alternating within each run; for pyarrow and DuckDB the timed
# library calls alone ("section") are shown as well. The goals compare whole processes.
#
# Correctness (a failure exits 1): back.jsonl is objects.jsonl byte for byte (ely writes the
# same stream back); every Parquet file has OBJECTS rows (read with pyarrow), and so has
# duck.jsonl lines; ely.parquet holds the same ids in the same order as py.parquet and vectors
# equal, bit for bit, to the JSON's numbers rounded to float32; ely's vector column is a
# fixed_size_list of float (float32). The large stream's round trip is compared too. The
# vector types pyarrow and DuckDB chose are reported (lists of double are expected). Missing
# a goal is reported, not fatal.
#
# The report goes to stdout (paste it into a note); progress goes to stderr.
# Settings (environment):
#   OBJECTS=10000 DIMS=1536 SEED=42   what ely-gen writes (the timed stream)
#   OBJECTS_MEM=60000                 objects of the memory stream (0: skip it)
#   RUNS=3                            repetitions per command; the best (minimum) wall time counts
#   DUCK_THREADS=2                    DuckDB's SET threads
#   PYTHON=python3                    the Python with pyarrow and duckdb (pip install pyarrow duckdb)
#   BENCH_DIR=target/bench-parquet    work directory (relative to the repository root); the
#                                     memory stream's files are deleted at the end
#   ELY_BIN_DIR=                      use ely-gen/ely-convert from here instead of building
#                                     (cargo build --release -p ely -p ely-bench; into
#                                     CARGO_TARGET_DIR if set)
#   ELY_COMMIT=                       the commit ELY_BIN_DIR's binaries were built from, for the
#                                     report (else: this tree's commit)
# Needs bash 5, coreutils, grep, awk, python3 with pyarrow and duckdb, GNU time (/usr/bin/time).
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"

# --- settings ---------------------------------------------------------------------------------

OBJECTS=${OBJECTS:-10000}
DIMS=${DIMS:-1536}
SEED=${SEED:-42}
OBJECTS_MEM=${OBJECTS_MEM:-60000}
RUNS=${RUNS:-3}
DUCK_THREADS=${DUCK_THREADS:-2}
PYTHON=${PYTHON:-python3}
check_uints OBJECTS DIMS SEED OBJECTS_MEM RUNS DUCK_THREADS
((RUNS >= 1 && OBJECTS >= 1 && DIMS >= 1 && DUCK_THREADS >= 1)) ||
    die "RUNS, OBJECTS, DIMS and DUCK_THREADS must be at least 1"

# --- tools ------------------------------------------------------------------------------------

have_gnu_time || die "GNU time (/usr/bin/time) missing (install with: apt-get install -y time)"
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (set PYTHON)"
HELPER=$ROOT/scripts/bench_parquet.py
PY_VERSIONS=$("$PYTHON" "$HELPER" versions 2>/dev/null) ||
    die "$PYTHON cannot import pyarrow and duckdb (install with: $PYTHON -m pip install pyarrow duckdb)"

find_bins "-p ely -p ely-bench"
need_bins ely-gen ely-convert
GEN=$BIN/ely-gen
ELY=$BIN/ely-convert

# --- work directory ---------------------------------------------------------------------------

# Every command runs inside the work directory.
enter_work target/bench-parquet
TIMEF=$(mktemp "$WORK/.time.XXXXXX")
OUTF=$(mktemp "$WORK/.out.XXXXXX")
cleanup() {
    rm -f "$TIMEF" "$OUTF" big.jsonl big.parquet big-back.jsonl
}
trap cleanup EXIT

# --- measuring --------------------------------------------------------------------------------

# Run one command once, its stdout to $OUTF. Sets WALL (s), RSS (KiB), CPU (user+sys s).
# The clock is read right around the command; GNU time wraps every tool alike.
time_once() { # CMD...
    local t0 t1
    now
    t0=$NOW
    if ! /usr/bin/time -f '%M %U %S' -o "$TIMEF" "$@" >"$OUTF"; then
        die "command failed: $(quoted "$@") ($(tail -n 1 "$TIMEF"))"
    fi
    now
    t1=$NOW
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    # The last line holds the figures (GNU time puts any "exited with status" line before it).
    read -r RSS CPU < <(awk 'END { printf "%d %.2f\n", $1, $2 + $3 }' "$TIMEF")
}

# The best run per tool KEY: whole-process wall time, that run's CPU and (Python) timed
# section's wall and CPU; the highest RSS over the runs.
declare -A B_WALL B_CPU B_SEC B_SCPU B_RSS
# Run a command once, after deleting OUTPUT (outside the clock: every tool writes a new file),
# and keep its figures under KEY.
run() { # KEY OUTPUT CMD...
    local key=$1 output=$2 sec scpu
    shift 2
    record_line "$(quoted "$@")"
    rm -f "$output"
    time_once "$@"
    [[ -s $output ]] || die "$key wrote no $output"
    sec=$(field seconds)
    scpu=$(field cpu_seconds)
    if beats "$WALL" "${B_WALL[$key]:-}"; then
        B_WALL[$key]=$WALL B_CPU[$key]=$CPU B_SEC[$key]=${sec:--} B_SCPU[$key]=${scpu:--}
    fi
    if ((RSS > ${B_RSS[$key]:-0})); then B_RSS[$key]=$RSS; fi
}

# KiB as MB (10^6 bytes); bytes as MB.
kib_mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
# MB (10^6 bytes) a second.
mb_s() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? b / 1e6 / s : 0) }'; }
# A number in 2 decimals: to keep "-" as it is.
num() { if [[ $1 == - ]]; then echo -; else awk -v x="$1" 'BEGIN { printf "%.2f", x }'; fi; }

# A field of the JSON line `bench_parquet.py inspect` printed for FILE.
inspect_field() { # FILE NAME
    awk -v f="\"file\": \"$1\"" -v n="\"$2\": " 'index($0, f) {
        i = index($0, n); if (!i) exit
        s = substr($0, i + length(n))
        if (substr(s, 1, 1) == "\"") { s = substr(s, 2); print substr(s, 1, index(s, "\"") - 1) }
        else { match(s, /^[0-9]+/); print substr(s, 1, RLENGTH) }
        exit }' "$INSPECT"
}

# --- the run ----------------------------------------------------------------------------------

# Other work on the machine skews every figure; the load average at the start shows it.
LOAD_BEFORE=$(load_avg)

say "generating $OBJECTS objects of $DIMS dimensions (seed $SEED) in $WORK"
rm -f objects.jsonl plain.jsonl ely.parquet py.parquet duck.parquet back.jsonl duck.jsonl
"$GEN" --mode realistic --objects "$OBJECTS" --dims "$DIMS" --seed "$SEED" -o objects.jsonl
GEN_CMD=$(quoted "$GEN" --mode realistic --objects "$OBJECTS" --dims "$DIMS" --seed "$SEED" -o objects.jsonl)
IN_BYTES=$(stat -c %s objects.jsonl)
# pyarrow and DuckDB get the object lines only; ely-convert the whole stream.
STRIP_CMD="grep -v '^{\"ely\":' objects.jsonl > plain.jsonl"
grep -v '^{"ely":' objects.jsonl >plain.jsonl
record_line "$STRIP_CMD"
PLAIN_BYTES=$(stat -c %s plain.jsonl)
lines=$(wc -l <plain.jsonl)
((lines == OBJECTS)) || die "plain.jsonl has $lines lines, not $OBJECTS (header or trailer not stripped?)"
# Make sure the inputs are in the page cache, so the first timed command does not pay for disk.
cat objects.jsonl plain.jsonl >/dev/null

for ((r = 1; r <= RUNS; r++)); do
    say "JSONL -> Parquet: run $r/$RUNS"
    run ely ely.parquet "$ELY" --quiet -i objects.jsonl -o ely.parquet
    run pyarrow py.parquet "$PYTHON" "$HELPER" pyarrow-parquet --input plain.jsonl --output py.parquet
    run duckdb duck.parquet "$PYTHON" "$HELPER" duckdb-parquet --input plain.jsonl --output duck.parquet \
        --threads "$DUCK_THREADS"
done

# Correctness before trusting any figure.
say "checking the Parquet files"
INSPECT=$WORK/inspect.jsonl
record_line "$(quoted "$PYTHON" "$HELPER" inspect --rows "$OBJECTS" ely.parquet py.parquet duck.parquet)"
"$PYTHON" "$HELPER" inspect --rows "$OBJECTS" ely.parquet py.parquet duck.parquet >"$INSPECT" ||
    die "a Parquet file does not hold $OBJECTS rows: $(cat "$INSPECT")"
ELY_VTYPE=$(inspect_field ely.parquet vector_type)
[[ $ELY_VTYPE == "fixed_size_list<element: float"*"[$DIMS]" ]] ||
    die "ely.parquet's vector column is $ELY_VTYPE, not fixed_size_list<float>[$DIMS]"
record_line "$(quoted "$PYTHON" "$HELPER" compare --ely ely.parquet --ref py.parquet)"
"$PYTHON" "$HELPER" compare --ely ely.parquet --ref py.parquet >/dev/null ||
    die "ely.parquet does not hold the objects pyarrow read from plain.jsonl"

for ((r = 1; r <= RUNS; r++)); do
    say "Parquet -> JSONL: run $r/$RUNS"
    run ely-back back.jsonl "$ELY" --quiet -i ely.parquet -o back.jsonl
    run duckdb-back duck.jsonl "$PYTHON" "$HELPER" duckdb-jsonl --input duck.parquet --output duck.jsonl \
        --threads "$DUCK_THREADS"
done
say "checking the JSON lines"
record_line "cmp back.jsonl objects.jsonl"
cmp back.jsonl objects.jsonl || die "round trip failed: back.jsonl differs from objects.jsonl"
lines=$(wc -l <duck.jsonl)
((lines == OBJECTS)) || die "duck.jsonl has $lines lines, not $OBJECTS"
BACK_BYTES=$(stat -c %s back.jsonl)
DUCK_JSONL_BYTES=$(stat -c %s duck.jsonl)

# Memory on a large stream: one run each way, then the round trip compared.
MEM_TO_RSS=0 MEM_BACK_RSS=0
if ((OBJECTS_MEM > 0)); then
    say "memory: generating $OBJECTS_MEM objects of $DIMS dimensions"
    rm -f big.jsonl big.parquet big-back.jsonl
    record_line "$(quoted "$GEN" --mode realistic --objects "$OBJECTS_MEM" --dims "$DIMS" --seed "$SEED" -o big.jsonl)"
    "$GEN" --mode realistic --objects "$OBJECTS_MEM" --dims "$DIMS" --seed "$SEED" -o big.jsonl
    BIG_BYTES=$(stat -c %s big.jsonl)
    cat big.jsonl >/dev/null
    say "memory: JSONL -> Parquet ($(mb "$BIG_BYTES") MB)"
    record_line "$(quoted "$ELY" --quiet -i big.jsonl -o big.parquet)"
    time_once "$ELY" --quiet -i big.jsonl -o big.parquet
    MEM_TO_RSS=$RSS MEM_TO_WALL=$WALL MEM_TO_CPU=$CPU
    BIG_PQ_BYTES=$(stat -c %s big.parquet)
    say "memory: Parquet -> JSONL"
    record_line "$(quoted "$ELY" --quiet -i big.parquet -o big-back.jsonl)"
    time_once "$ELY" --quiet -i big.parquet -o big-back.jsonl
    MEM_BACK_RSS=$RSS MEM_BACK_WALL=$WALL MEM_BACK_CPU=$CPU
    say "memory: checking the round trip"
    record_line "cmp big-back.jsonl big.jsonl"
    cmp big-back.jsonl big.jsonl || die "round trip failed: big-back.jsonl differs from big.jsonl"
    "$PYTHON" "$HELPER" inspect --rows "$OBJECTS_MEM" big.parquet >/dev/null ||
        die "big.parquet does not hold $OBJECTS_MEM rows"
    BIG_ROW_GROUPS=$("$PYTHON" "$HELPER" inspect big.parquet |
        sed -n 's/.*"row_groups": \([0-9]*\).*/\1/p')
    rm -f big.jsonl big.parquet big-back.jsonl
fi
LOAD_AFTER=$(load_avg)

# --- report -----------------------------------------------------------------------------------

ELY_BYTES=$(stat -c %s ely.parquet)
PY_BYTES=$(stat -c %s py.parquet)
DUCK_BYTES=$(stat -c %s duck.parquet)
# Whole-process speedups of ely over each reference, and ely's size against the others.
SP_PY=$(ratio "${B_WALL[pyarrow]}" "${B_WALL[ely]}")
SP_DUCK=$(ratio "${B_WALL[duckdb]}" "${B_WALL[ely]}")
SP_BACK=$(ratio "${B_WALL[duckdb-back]}" "${B_WALL[ely-back]}")
SIZE_IN=$(ratio "$ELY_BYTES" "$IN_BYTES")
SIZE_PY=$(awk -v a="$ELY_BYTES" -v b="$PY_BYTES" 'BEGIN { printf "%.3f", a / b }')
SIZE_DUCK=$(awk -v a="$ELY_BYTES" -v b="$DUCK_BYTES" 'BEGIN { printf "%.3f", a / b }')

commit=${ELY_COMMIT:-$(tree_commit)}
report_head "ely-convert Parquet benchmark" "$LOAD_BEFORE" "$LOAD_AFTER"
echo "ely:      $("$ELY" --version)${commit:+, commit $commit}, release build, $BIN"
echo "python:   $PY_VERSIONS ($(command -v "$PYTHON"))"
echo "input:    $OBJECTS objects x $DIMS dims, seed $SEED: objects.jsonl, $IN_BYTES bytes ($(mb "$IN_BYTES") MB);"
echo "          plain.jsonl (object lines only, for pyarrow and DuckDB), $PLAIN_BYTES bytes"
echo "method:   whole processes, best wall time of $RUNS runs (the tools alternating), page cache warm;"
echo "          section = pyarrow's/DuckDB's timed library calls alone (no Python start-up or"
echo "          imports); CPU = user+sys of the best run; RSS = peak over the runs (GNU time %M);"
echo "          MB = 10^6 bytes, MB/s = objects.jsonl's size / whole s; ely x = tool s / ely s"
echo "          (whole processes). ely-convert and pyarrow use both cores, DuckDB $DUCK_THREADS threads"
echo
report_commands "$GEN_CMD"
FMT='%-12s %-12s %8s %9s %7s %8s %8s %9s %8s\n'
# shellcheck disable=SC2059
printf "$FMT" step tool "whole s" "section s" "MB/s" "RSS MB" "CPU s" "sect cpu" "ely x"
row() { # STEP TOOL KEY ELY_KEY
    local k=$3
    # shellcheck disable=SC2059
    printf "$FMT" "$1" "$2" "${B_WALL[$k]}" "$(num "${B_SEC[$k]}")" "$(mb_s "$IN_BYTES" "${B_WALL[$k]}")" \
        "$(kib_mb "${B_RSS[$k]}")" "${B_CPU[$k]}" "$(num "${B_SCPU[$k]}")" \
        "$(ratio "${B_WALL[$k]}" "${B_WALL[$4]}")"
}
row "to parquet" ely-convert ely ely
row "to parquet" pyarrow pyarrow ely
row "to parquet" duckdb duckdb ely
row "to jsonl" ely-convert ely-back ely-back
row "to jsonl" duckdb duckdb-back ely-back
echo
SFMT='%-14s %12s %9s %8s %7s  %s\n'
# shellcheck disable=SC2059
printf "$SFMT" file bytes MB "/ jsonl" rows "vector column"
# shellcheck disable=SC2059
printf "$SFMT" objects.jsonl "$IN_BYTES" "$(mb "$IN_BYTES")" 1.00 "$OBJECTS" "JSON numbers (shortest float32 text)"
for f in ely.parquet py.parquet duck.parquet; do
    b=$(stat -c %s "$f")
    # shellcheck disable=SC2059
    printf "$SFMT" "$f" "$b" "$(mb "$b")" "$(ratio "$b" "$IN_BYTES")" "$(inspect_field "$f" rows)" \
        "$(inspect_field "$f" vector_type)"
done
# shellcheck disable=SC2059
printf "$SFMT" back.jsonl "$BACK_BYTES" "$(mb "$BACK_BYTES")" "$(ratio "$BACK_BYTES" "$IN_BYTES")" "$OBJECTS" \
    "ely-convert from ely.parquet: identical to objects.jsonl"
# shellcheck disable=SC2059
printf "$SFMT" duck.jsonl "$DUCK_JSONL_BYTES" "$(mb "$DUCK_JSONL_BYTES")" "$(ratio "$DUCK_JSONL_BYTES" "$IN_BYTES")" \
    "$OBJECTS" "DuckDB from duck.parquet (no header/trailer)"
echo
echo "Parquet writers (created_by):"
for f in ely.parquet py.parquet duck.parquet; do
    echo "  $f: $(inspect_field "$f" created_by), $(inspect_field "$f" row_groups) row group(s)"
done
echo
if ((OBJECTS_MEM > 0)); then
    echo "memory stream: $OBJECTS_MEM objects x $DIMS dims, $BIG_BYTES bytes ($(mb "$BIG_BYTES") MB) of JSON lines;"
    echo "          big.parquet $BIG_PQ_BYTES bytes ($(ratio "$BIG_PQ_BYTES" "$BIG_BYTES") of the JSONL), $BIG_ROW_GROUPS row group(s)"
    MFMT='%-12s %8s %7s %8s %7s\n'
    # shellcheck disable=SC2059
    printf "$MFMT" step "whole s" "MB/s" "RSS MB" "CPU s"
    # shellcheck disable=SC2059
    printf "$MFMT" "to parquet" "$MEM_TO_WALL" "$(mb_s "$BIG_BYTES" "$MEM_TO_WALL")" "$(kib_mb "$MEM_TO_RSS")" "$MEM_TO_CPU"
    # shellcheck disable=SC2059
    printf "$MFMT" "to jsonl" "$MEM_BACK_WALL" "$(mb_s "$BIG_BYTES" "$MEM_BACK_WALL")" "$(kib_mb "$MEM_BACK_RSS")" "$MEM_BACK_CPU"
    echo
fi
echo "correctness: back.jsonl identical to objects.jsonl$( ((OBJECTS_MEM > 0)) && echo ", big-back.jsonl to big.jsonl");"
echo "          $OBJECTS rows in every Parquet file and lines in duck.jsonl; ely.parquet's ids and"
echo "          vectors equal pyarrow's (vectors rounded to float32, bit for bit)"
echo
# shellcheck disable=SC2034 # used by goal_header and goal (bench-lib.sh)
GFMT='%-52s %9s %-9s %s\n'
goal_header
goal "to parquet: pyarrow s / ely s (whole processes)" "$SP_PY" ">=" 3
goal "to parquet: DuckDB s / ely s (whole processes)" "$SP_DUCK" ">=" 5
goal "ely.parquet / objects.jsonl (bytes)" "$SIZE_IN" "<=" 0.30
# "Smaller than both": a ratio below 1 (shown in 3 decimals, so that 1.000 means equal).
goal "ely.parquet / py.parquet (bytes)" "$SIZE_PY" "<=" 0.999
goal "ely.parquet / duck.parquet (bytes)" "$SIZE_DUCK" "<=" 0.999
goal "to jsonl: DuckDB s / ely s (whole processes)" "$SP_BACK" ">=" 5
goal "peak RSS MB, ely to parquet, $OBJECTS objects" "$(kib_mb "${B_RSS[ely]}")" "" ""
goal "peak RSS MB, ely to jsonl, $OBJECTS objects" "$(kib_mb "${B_RSS[ely-back]}")" "" ""
if ((OBJECTS_MEM > 0)); then
    goal "peak RSS MB, ely to parquet, $(mb "$BIG_BYTES") MB stream" "$(kib_mb "$MEM_TO_RSS")" "<=" 200
    goal "peak RSS MB, ely to jsonl, $(mb "$BIG_BYTES") MB stream" "$(kib_mb "$MEM_BACK_RSS")" "<=" 200
else
    echo "(peak RSS on the large stream: not measured, OBJECTS_MEM=0)"
fi
echo
report_goals
