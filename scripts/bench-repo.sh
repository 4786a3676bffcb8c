#!/usr/bin/env bash
# bench-repo.sh: ely-repo's two timed paths, as issue 14 asks.
#
#   add      `ely-repo add` of a generated git repository of FILES files, from the command to a
#            synced collection (check, clone, count, first sync, cron entry), into the
#            embedded store and into the test server (fake-weaviate). Goal: under 10 s on the
#            embedded store.
#   sync     `ely-repo sync --all --cron --parallel 2` of REPOS repositories with CHANGED files
#            changed (committed) in each since the last sync, into the embedded store. Goal:
#            under 2 s wall in total.
#
# The repositories come from scripts/bench_ingest.py gen (deterministic from SEED: long-tailed
# file sizes, a dozen languages) and its modify command (CHANGED files rewritten and
# committed). Each timed figure is a whole process, best of RUNS (the add is redone from a
# fresh state each time, after `sync` has written the previous run's files out: cloning
# 146 MiB of files is disk-bound, and on a busy disk its time doubles). The last sync run is checked: every repository synced, with its
# changed files written; a wrong result fails the run.
#
# The report goes to stdout; progress to stderr.
# Settings (environment):
#   FILES=10000 SEED=1 REPOS=20 REPO_FILES=200 CHANGED=10 RUNS=3
#   BENCH_DIR=target/bench-repo      work directory (relative to the repository root)
#   ELY_BIN_DIR=                      use prebuilt release binaries from here
# Needs bash, python3, git, coreutils.
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"

FILES=${FILES:-10000}
SEED=${SEED:-1}
REPOS=${REPOS:-20}
REPO_FILES=${REPO_FILES:-200}
CHANGED=${CHANGED:-10}
RUNS=${RUNS:-3}
check_uints FILES SEED REPOS REPO_FILES CHANGED RUNS
BENCH_DIR=${BENCH_DIR:-target/bench-repo}
[[ $BENCH_DIR == /* ]] || BENCH_DIR=$ROOT/$BENCH_DIR
WORK=$BENCH_DIR
PYBENCH=$ROOT/scripts/bench_ingest.py

find_bins "--bin ely-repo --bin ely-ingest" "-p fake-weaviate"
need_bins ely-repo ely-ingest fake-weaviate
mkdir -p "$WORK"
export GIT_AUTHOR_NAME=ely-bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=ely-bench GIT_COMMITTER_EMAIL=bench@example.com
trap stop_server EXIT

say "generating a repository of $FILES files"
python3 "$PYBENCH" gen --dir "$WORK/big" --files "$FILES" --seed "$SEED" >&2
bytes=$(git -C "$WORK/big" ls-files -z | xargs -0 -I{} stat -c %s "$WORK/big/{}" | awk '{ s += $1 } END { print s }')

# Seconds of one command (wall), to 3 decimals.
timed() {
    local s e
    s=$EPOCHREALTIME
    "$@" > /dev/null
    e=$EPOCHREALTIME
    awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f", b - a }'
}

# The best of RUNS of: a fresh ELY_HOME and a fresh store (an empty embedded store file, or a
# test server just started: it slows down as it holds more objects), then `ely-repo add` of
# the big repository into it.
add_best() { # embedded|server
    local best="" t i store
    for ((i = 0; i < RUNS; i++)); do
        rm -rf "$WORK/home-add" "$WORK/add.db" "$WORK/add.db-wal" "$WORK/add.db-shm"
        if [[ $1 == server ]]; then
            start_server "$BIN/fake-weaviate"
            store=$URL
        else
            store=$WORK/add.db
        fi
        # The previous run's files written out first: a run is not charged for another's.
        sync
        t=$(ELY_HOME=$WORK/home-add timed "$BIN/ely-repo" --quiet add "$WORK/big" --name big \
            --collection Big$i --store "$store" --crontab-file "$WORK/crontab-add")
        [[ $1 == server ]] && stop_server
        say "add ($1), run $((i + 1)): ${t} s"
        if [[ -z $best ]] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
    done
    echo "$best"
}

say "ely-repo add into the embedded store (best of $RUNS)"
add_embedded=$(add_best embedded)
documents=$(ELY_HOME=$WORK/home-add "$BIN/ely-repo" status big | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["documents"])')
[[ $documents -gt 0 ]] || die "the added collection holds no objects"

say "ely-repo add into the test server (best of $RUNS, a fresh server each)"
add_server=$(add_best server)

say "$REPOS repositories of $REPO_FILES files, added (not timed)"
rm -rf "$WORK/home-sync" "$WORK/sync.db"
for ((r = 0; r < REPOS; r++)); do
    python3 "$PYBENCH" gen --dir "$WORK/r$r" --files "$REPO_FILES" --seed $((SEED + r + 1)) >&2
    ELY_HOME=$WORK/home-sync "$BIN/ely-repo" --quiet add "$WORK/r$r" --name "r$r" --collection Many \
        --store "$WORK/sync.db" --crontab-file "$WORK/crontab-sync" > /dev/null
done
best_sync=""
for ((i = 0; i < RUNS; i++)); do
    for ((r = 0; r < REPOS; r++)); do
        python3 "$PYBENCH" modify --dir "$WORK/r$r" --count "$CHANGED" --seed $((1000 * i + r + 7)) >&2
    done
    t=$(ELY_HOME=$WORK/home-sync timed "$BIN/ely-repo" --quiet sync --all --cron --parallel 2)
    say "sync --all, run $((i + 1)): ${t} s"
    if [[ -z $best_sync ]] || awk -v a="$t" -v b="$best_sync" 'BEGIN { exit !(a < b) }'; then best_sync=$t; fi
done
synced=$(ELY_HOME=$WORK/home-sync "$BIN/ely-repo" logs --tail "$REPOS" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
print(sum(1 for r in rows if r["ok"]), sum(r["modified"] + r["added"] for r in rows))')
[[ ${synced% *} == "$REPOS" ]] || die "only ${synced% *} of $REPOS repositories synced"
[[ ${synced#* } -ge $((REPOS * CHANGED / 2)) ]] || die "only ${synced#* } files written for $REPOS x $CHANGED changes"

verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v < g) ? "met" : "MISSED" }'; }
printf '# ely-repo benchmark, %s\n\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
printf 'machine: nproc %s; ely-repo from %s\n\n' "$(nproc)" "$BIN"
printf '| step | what | s | goal |\n|---|---|---|---|\n'
printf '| add, embedded store | %d files (%d bytes) cloned and synced: %s objects | %s | < 10 s: %s |\n' \
    "$FILES" "$bytes" "$documents" "$add_embedded" "$(verdict "$add_embedded" 10)"
printf '| add, test server | the same | %s | |\n' "$add_server"
printf '| sync --all --cron --parallel 2 | %d repositories, %d changed files each; last run: %s synced ok, %s files written | %s | < 2 s: %s |\n' \
    "$REPOS" "$CHANGED" "${synced% *}" "${synced#* }" "$best_sync" "$(verdict "$best_sync" 2)"
