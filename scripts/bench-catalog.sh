#!/usr/bin/env bash
# bench-catalog.sh: ely-catalog's queries on a catalog of 100,000 backups, and deep
# verification beside `ely-convert --check` on the same file.
#
#   add      100,000 manifest lines on stdin, one `ely-catalog add` (files exist: empty ones)
#   queries  list --latest 20, show ID, list --collection X, stats, search TEXT, each the
#            median of RUNS runs of the whole process (start included), output to a pipe
#   cleanup  cleanup --dry-run --keep-daily 7 --keep-weekly 4 --keep-monthly 12 over all of it
#   verify   ely-catalog verify --deep ID  vs  ely-convert --check -i FILE, on one generated
#            backup of OBJECTS objects (zstd): the ratio of their times
#
# The catalog holds COLLECTIONS collections from two sources, backed up hourly (one backup a
# collection an hour, going back from now), so `list --collection X` returns
# BACKUPS / COLLECTIONS lines. Goals (issue 13): each query under 10 ms, cleanup planning under
# 1 s, deep verify as fast as ely-convert --check. Missing a goal is reported, not fatal.
#
# The report goes to stdout; progress to stderr.
# Settings (environment):
#   BACKUPS=100000 COLLECTIONS=100 RUNS=21 OBJECTS=200000 DIMS=384
#   BENCH_DIR=target/bench-catalog   work directory (relative to the repository root)
#   ELY_BIN_DIR=                      use prebuilt release binaries from here
# Needs bash, python3, coreutils.
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"

BACKUPS=${BACKUPS:-100000}
COLLECTIONS=${COLLECTIONS:-100}
RUNS=${RUNS:-21}
OBJECTS=${OBJECTS:-200000}
DIMS=${DIMS:-384}
check_uints BACKUPS COLLECTIONS RUNS OBJECTS DIMS
BENCH_DIR=${BENCH_DIR:-target/bench-catalog}
[[ $BENCH_DIR == /* ]] || BENCH_DIR=$ROOT/$BENCH_DIR

find_bins "--bin ely-catalog --bin ely-convert" "-p ely-bench --bin ely-gen"
need_bins ely-catalog ely-convert ely-gen
rm -rf "$BENCH_DIR"
mkdir -p "$BENCH_DIR/files"
cat_db=$BENCH_DIR/catalog.db
catalog() { "$BIN/ely-catalog" --catalog "$cat_db" "$@"; }

say "writing $BACKUPS manifests (and their empty files)"
python3 - "$BENCH_DIR" "$BACKUPS" "$COLLECTIONS" > "$BENCH_DIR/manifests.jsonl" <<'EOF'
import json, os, sys, time
root, n, cols = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
now = int(time.time()) // 3600 * 3600
for i in range(n):
    c = i % cols
    t = now - (i // cols) * 3600
    f = os.path.join(root, "files", f"c{c:03d}-{i:07d}.jsonl.zst")
    open(f, "wb").close()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    print(json.dumps({"ely": "manifest", "file": f, "format": "jsonl", "compression": "zstd",
        "collections": [{"name": f"Coll{c:03d}", "objects": 1000 + i % 97, "tenants": 0}],
        "objects": 1000 + i % 97, "bytes": 0, "hash": "99aa06d3014798d86001c324468d497f",
        "algorithm": "xxh3-128", "schema_only": False, "filtered": False, "started": started,
        "finished": started, "source": "http://weaviate-%d:8080" % (c % 2), "ely_version": "0.1.0"}))
EOF

t0=$EPOCHREALTIME
catalog add --tag bench < "$BENCH_DIR/manifests.jsonl" > /dev/null
t1=$EPOCHREALTIME
add_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
say "added $BACKUPS backups in ${add_s}s"

some_id=$(catalog list --latest 1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["short_id"])')

# The median wall time (ms) of RUNS runs of the command, its output to a pipe.
median_ms() {
    local i s e
    local -a times=()
    for ((i = 0; i < RUNS; i++)); do
        s=$EPOCHREALTIME
        "$@" | tail -c 1 > /dev/null
        e=$EPOCHREALTIME
        times+=("$(awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f", (b - a) * 1000 }')")
    done
    printf '%s\n' "${times[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

printf '# ely-catalog with %d backups (%d collections, hourly), median of %d runs, process start included\n\n' \
    "$BACKUPS" "$COLLECTIONS" "$RUNS"
printf '| query | lines out | time (ms) | goal |\n|---|---|---|---|\n'
query() { # LABEL GOAL_MS ARGS...
    local label=$1 goal=$2
    shift 2
    local ms lines verdict
    lines=$(catalog "$@" | wc -l)
    ms=$(median_ms catalog "$@")
    verdict=$(awk -v m="$ms" -v g="$goal" 'BEGIN { print (m < g) ? "met (< " g ")" : "MISSED (< " g ")" }')
    printf '| `%s` | %d | %s | %s |\n' "$label" "$lines" "$ms" "$verdict"
}
query "list --latest 20" 10 list --latest 20
query "show ID" 10 show "$some_id"
query "list --collection Coll042" 10 list --collection Coll042
query "stats" 10 stats
query "search c042-00" 10 search c042-00
query "cleanup --dry-run (daily 7, weekly 4, monthly 12)" 1000 \
    cleanup --dry-run --keep-daily 7 --keep-weekly 4 --keep-monthly 12
printf '\nadding %d manifests in one `ely-catalog add`: %ss\n' "$BACKUPS" "$add_s"

say "generating a backup of $OBJECTS objects ($DIMS dimensions) for deep verification"
"$BIN/ely-gen" --objects "$OBJECTS" --dims "$DIMS" -o "$BENCH_DIR/big.jsonl.zst"
verify_db=$BENCH_DIR/verify.db
"$BIN/ely-catalog" --catalog "$verify_db" add "$BENCH_DIR/big.jsonl.zst" > /dev/null
big_id=$("$BIN/ely-catalog" --catalog "$verify_db" list | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["short_id"])')
RUNS=3
check_ms=$(median_ms "$BIN/ely-convert" --check -i "$BENCH_DIR/big.jsonl.zst")
deep_ms=$(median_ms "$BIN/ely-catalog" --catalog "$verify_db" verify --deep "$big_id")
quick_ms=$(median_ms "$BIN/ely-catalog" --catalog "$verify_db" verify "$big_id")
size=$(stat -c %s "$BENCH_DIR/big.jsonl.zst")
printf '\n| verification of a %d-byte zstd backup (%d objects) | time (ms) | vs ely-convert --check |\n|---|---|---|\n' \
    "$size" "$OBJECTS"
printf '| `ely-convert --check` | %s | 1.00x |\n' "$check_ms"
printf '| `ely-catalog verify --deep` | %s | %s |\n' "$deep_ms" \
    "$(awk -v a="$deep_ms" -v b="$check_ms" 'BEGIN { printf "%.2fx the time", a / b }')"
printf '| `ely-catalog verify` (quick: size and hash) | %s | %s |\n' "$quick_ms" \
    "$(awk -v a="$quick_ms" -v b="$check_ms" 'BEGIN { printf "%.2fx the time", a / b }')"
