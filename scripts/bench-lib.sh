# bench-lib.sh: shell functions shared by scripts/bench-store.sh, scripts/bench-backup.sh and
# scripts/bench-convert.sh, which source it. Sourcing it sets LC_ALL=C, ROOT (the repository
# root), BENCH (the running script's name, without .sh, which starts every message) and
# TICKS (clock ticks a second, for /proc CPU times).
# shellcheck shell=bash
# Most variables set here are for the scripts that source this file:
# shellcheck disable=SC2034

# A locale with a decimal comma would break $EPOCHREALTIME and awk arithmetic.
export LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$(basename "$0" .sh)
TICKS=$(getconf CLK_TCK)

die() {
    printf '%s: error: %s\n' "$BENCH" "$*" >&2
    exit 1
}
say() { printf '%s: %s\n' "$BENCH" "$*" >&2; }

# --- settings and tools -----------------------------------------------------------------------

# Die unless every named variable holds a non-negative integer.
check_uints() { # VAR...
    local v
    for v in "$@"; do
        [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, not '${!v}'"
    done
}

# True when GNU time (not the shell keyword) is there: it reports peak memory (%M).
have_gnu_time() {
    [[ -x /usr/bin/time ]] && /usr/bin/time -f %M -o /dev/null true 2>/dev/null
}

# Set BIN, the directory of the release binaries: ELY_BIN_DIR when set; otherwise, after one
# `cargo build --release ARGS --quiet` in the repository root for each argument (ARGS split
# on blanks), where cargo put them: CARGO_TARGET_DIR (relative to the root) or target/.
find_bins() { # "CARGO_ARGS"...
    if [[ -n ${ELY_BIN_DIR:-} ]]; then
        BIN=$(cd "$ELY_BIN_DIR" && pwd)
        return
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo not found (or set ELY_BIN_DIR to prebuilt binaries)"
    say "building release binaries"
    local args words
    for args in "$@"; do
        read -ra words <<<"$args"
        (cd "$ROOT" && cargo build --release "${words[@]}" --quiet)
    done
    BIN=${CARGO_TARGET_DIR:-target}/release
    [[ $BIN == /* ]] || BIN=$ROOT/$BIN
}

# Die unless every named binary is in BIN.
need_bins() { # NAME...
    local b
    for b in "$@"; do
        [[ -x $BIN/$b ]] || die "$b not found in $BIN"
    done
}

# The official Python client, in a venv of its own: sets PY_CLIENT (the pip requirement),
# VENV (unless set: a directory in the user's cache) and PY (the venv's python). A missing
# venv is created with python3 -m venv, a missing client installed with pip.
PY_CLIENT_VERSION=3.26.7
PY_CLIENT=weaviate-client==$PY_CLIENT_VERSION
python_client() {
    VENV=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ely-bench/venv-weaviate-client-$PY_CLIENT_VERSION}
    PY=$VENV/bin/python
    if ! py_client_ok; then
        say "installing $PY_CLIENT into $VENV"
        mkdir -p "$(dirname "$VENV")"
        [[ -x $PY ]] || python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
        "$PY" -m pip install --quiet "$PY_CLIENT" >&2 || die "pip install $PY_CLIENT failed"
        py_client_ok || die "$PY_CLIENT is not importable from $VENV"
    fi
}
py_client_ok() {
    "$PY" -c 'import importlib.metadata as m, sys; sys.exit(m.version("weaviate-client") != sys.argv[1])' \
        "$PY_CLIENT_VERSION" 2>/dev/null
}

# Die unless the memory available covers OBJECTS x DIMS numbers at the peak: the Python
# client holds every object as lists of Python floats (about 32 bytes a number), the server
# the vectors as float32 (and more); a JSON line is about 12 bytes a number.
check_memory() {
    local need avail
    need=$((OBJECTS * DIMS * 48 / 1048576 + 500))
    avail=$(awk '/^MemAvailable:/ { printf "%d", $2 / 1024 }' /proc/meminfo 2>/dev/null || echo 0)
    say "memory: about $need MiB needed at the peak, $avail MiB available"
    if ((avail > 0 && avail < need)); then
        die "not enough memory for OBJECTS=$OBJECTS DIMS=$DIMS: lower OBJECTS"
    fi
}

# Make the work directory WORK (BENCH_DIR, else DEFAULT; relative to the repository root) and
# go there, so that the commands in the report use short names.
enter_work() { # DEFAULT
    WORK=${BENCH_DIR:-$1}
    [[ $WORK == /* ]] || WORK=$ROOT/$WORK
    mkdir -p "$WORK"
    cd "$WORK" || die "cannot enter $WORK"
}

# Write OBJECTS generated objects of DIMS dimensions (seed SEED) to objects.jsonl with
# `ely-store-bench gen`, and read them once, so that they are in the page cache. Sets
# INPUT_BYTES, the file's size.
gen_objects() { # ELY_STORE_BENCH [WHAT FOR]
    say "generating $OBJECTS objects of $DIMS dimensions (seed $SEED${SHAPE:+, shape $SHAPE})${2:+ $2}"
    "$1" gen --objects "$OBJECTS" --dims "$DIMS" --seed "$SEED" ${SHAPE:+--shape "$SHAPE"} -o objects.jsonl
    INPUT_BYTES=$(stat -c %s objects.jsonl)
    cat objects.jsonl >/dev/null
}

# --- the server -------------------------------------------------------------------------------

SERVER_PID=""

# Start fake-weaviate on a port the system picks (port 0) and wait for the URL it prints,
# which goes in URL; its log is $WORK/fake-weaviate.log.
start_server() { # FAKE_WEAVIATE
    SERVER_LOG=$WORK/fake-weaviate.log
    "$1" --port 0 2>"$SERVER_LOG" &
    SERVER_PID=$!
    URL=""
    local _
    for _ in $(seq 100); do
        URL=$(grep -o 'http://[0-9.:]*' "$SERVER_LOG" 2>/dev/null | head -n 1 || true)
        [[ -n $URL ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || die "fake-weaviate did not start: $(cat "$SERVER_LOG")"
        sleep 0.1
    done
    [[ -n $URL ]] || die "fake-weaviate did not print its URL"
    say "fake-weaviate (pid $SERVER_PID) serving on $URL"
}

# Stop the server, if one runs.
stop_server() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

# The server's CPU time so far (user + sys), in seconds; "-" when no server runs.
server_cpu() {
    if [[ -z $SERVER_PID ]]; then
        echo -
        return
    fi
    awk -v t="$TICKS" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$SERVER_PID/stat"
}

# The server's peak RSS so far, in KiB (0 when unknown).
server_rss() {
    awk '/^VmHWM:/ { printf "%d", $2 }' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0
}

# --- measuring --------------------------------------------------------------------------------

# The commands for the report, each once, in the order they first ran.
COMMANDS=()
record_line() { # TEXT
    local c
    for c in "${COMMANDS[@]+"${COMMANDS[@]}"}"; do [[ $c == "$1" ]] && return 0; done
    COMMANDS+=("$1")
}

# A command line, shell-quoted.
quoted() { # CMD...
    local line
    line=$(printf '%q ' "$@")
    printf '%s' "${line% }"
}

# Set NOW to the time in seconds. $EPOCHREALTIME (bash 5) costs no fork; date needs one.
now() {
    if [[ -n ${EPOCHREALTIME:-} ]]; then NOW=$EPOCHREALTIME; else NOW=$(date +%s.%N); fi
}

# The whole machine's busy CPU time so far (user, nice, system, irq, softirq, steal), in s.
machine_busy() {
    awk -v t="$TICKS" '/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / t; exit }' /proc/stat
}

# Around a timed command: cpu_start before it, cpu_stop after it. cpu_stop sets SCPU, the
# server's CPU s in between ("-" when no server runs); other_cpu then gives the CPU s the rest
# of the machine used in between: busy time minus the client's whole process (CLIENT_CPU s)
# and the server ("-" when CLIENT_CPU is unknown, empty).
cpu_start() {
    CPU_S0=$(server_cpu)
    CPU_B0=$(machine_busy)
}
cpu_stop() {
    CPU_B1=$(machine_busy)
    CPU_S1=$(server_cpu)
    if [[ $CPU_S0 == - ]]; then
        SCPU=-
    else
        SCPU=$(awk -v a="$CPU_S0" -v b="$CPU_S1" 'BEGIN { printf "%.2f", b - a }')
    fi
}
other_cpu() { # CLIENT_CPU
    if [[ -z $1 ]]; then
        echo -
        return
    fi
    awk -v a="$CPU_B0" -v b="$CPU_B1" -v p="$1" -v s="$SCPU" \
        'BEGIN { o = b - a - p - (s == "-" ? 0 : s); printf "%.2f", (o < 0 ? 0 : o) }'
}

# A number field of the JSON line a command printed into $OUTF.
field() { # NAME
    sed -n "s/.*\"$1\": *\\([0-9.eE+-]*\\).*/\\1/p" "$OUTF" | head -n 1
}

# True when the time A beats BEST: it is lower, or there is no BEST yet (empty).
beats() { # A BEST
    [[ -z $2 ]] || awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'
}

# The best (minimum) SECS per KEY, with that run's WALL (when measured), RATE, CCPU, SCPU and
# OTHER; and the highest RSS seen per KEY.
declare -gA BEST_S BEST_WALL BEST_RATE BEST_CPU BEST_SCPU BEST_OTHER PEAK_RSS
keep() { # KEY
    local k=$1
    if beats "$SECS" "${BEST_S[$k]:-}"; then
        BEST_S[$k]=$SECS BEST_WALL[$k]=${WALL:-} BEST_RATE[$k]=$RATE BEST_CPU[$k]=$CCPU
        BEST_SCPU[$k]=$SCPU BEST_OTHER[$k]=$OTHER
    fi
    if ((RSS > ${PEAK_RSS[$k]:-0})); then PEAK_RSS[$k]=$RSS; fi
}

# --- report -----------------------------------------------------------------------------------

# The 1, 5 and 15-minute load averages.
load_avg() { cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown; }

# The measured tree's commit, with " (modified)" when it has changes; empty without git.
tree_commit() {
    local commit=""
    if command -v git >/dev/null 2>&1; then
        commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || true)
        [[ -n $commit ]] && ! git -C "$ROOT" diff --quiet HEAD 2>/dev/null && commit+=" (modified)"
    fi
    printf '%s' "$commit"
}

# The report's first lines: its title with the time, the machine, and the load averages at
# the start and at the end.
report_head() { # TITLE LOAD_BEFORE LOAD_AFTER
    local cpu_model mem_total
    cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
    mem_total=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576; exit }' /proc/meminfo 2>/dev/null || true)
    echo "# $1, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "machine:  nproc $(nproc), ${cpu_model:-unknown cpu}, ${mem_total:-? GiB} RAM, $(uname -sr)"
    echo "load:     $2 at the start, $3 at the end (1/5/15-minute averages)"
}

# The report's list of commands: FIRST, then every recorded command.
report_commands() { # FIRST
    local c
    echo "commands (in $WORK):"
    echo "  $1"
    for c in "${COMMANDS[@]}"; do echo "  $c"; done
    echo
}

# KiB as whole MiB; "-" for 0 or nothing.
mib() {
    if [[ ${1:-0} == 0 ]]; then
        echo -
    else
        awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'
    fi
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# The goals table, in the format GFMT: goal_header, then a goal line for each goal; a missed
# goal counts in GOALS_MISSED.
GOALS_MISSED=0
goal_header() {
    # shellcheck disable=SC2059
    printf "$GFMT" goal value target ""
}
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

# The report's last line: how many goals were missed.
report_goals() {
    if ((GOALS_MISSED)); then
        echo "goals: $GOALS_MISSED missed"
    else
        echo "goals: all met"
    fi
}
