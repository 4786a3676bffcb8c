#!/usr/bin/env bash
# The README's first command: builds ely and runs the main job end to end on the embedded
# store (one SQLite file, no server needed):
#   1. ely-ingest: put a git repository (a copy of ely's own source) into a collection, one
#      object per chunk of each file; commit a change, a rename and a delete, and ingest
#      only what was committed; a repeated run writes nothing; with the real mgit installed
#      (../shared/mgit/install.sh), its `mgit diff --embed-content` records are ingested too,
#   2. generate a sample dataset (objects with text properties and 384-dimension vectors),
#   3. restore it into an embedded store with ely-restore,
#   4. back the collection up with ely-backup to a zstd file (printing its manifest),
#   5. verify the backup, restore it under another name, and check both collections hold the
#      same objects bit for bit,
#   6. convert the backup to gzip and lz4 and check each decompresses to the same stream,
#   7. show that a damaged backup is caught (exit 4), and that restoring it writes nothing,
#   8. ely-catalog: catalog the backups, verify them deeply, add a nightly backup plan (its
#      cron entry goes into a crontab file here), run it twice as cron would, and show which
#      backups a retention policy would keep and why,
#   9. ely-repo: put the git repository of step 1 (pushed to a bare remote) under sync with
#      one command, push a commit, sync as cron would, and show its status, history,
#      diagnosis and one frame of its dashboard.
# Needs git.
set -euo pipefail
cd "$(dirname "$0")/.."

OBJECTS=${OBJECTS:-5000}
DIMS=${DIMS:-384}
OUT=${OUT:-target/demo}

echo "== building ely (release)"
# cargo shows its progress on a terminal: the first build takes a few minutes.
cargo build --release --workspace
bin=target/release
mkdir -p "$OUT"
rm -f "$OUT"/sample.* "$OUT"/backup.* "$OUT"/copy.* "$OUT"/store.db* "$OUT"/ingest.* "$OUT"/catalog.db* "$OUT"/crontab
rm -rf "$OUT"/nightly "$OUT"/logs "$OUT"/locks "$OUT"/repo-home "$OUT"/remote.git "$OUT"/repo-work "$OUT"/crontab-repo
store="$OUT/store.db"

# --- ely-ingest --------------------------------------------------------------------------------
ws="$OUT/ws"
rm -rf "$ws" "$OUT/ingest.db"
mkdir -p "$ws/ely"
cp -r crates README.md "$ws/ely/"
git() { command git -c user.name=ely-demo -c user.email=demo@example.com "$@"; }
git -C "$ws/ely" init -q -b main
git -C "$ws/ely" add -A
git -C "$ws/ely" commit -q -m "ely's source"
files=$(git -C "$ws/ely" ls-files | wc -l)
ingest() { "$bin/ely-ingest" --store "$store" --state "$OUT/ingest.db" -c Source "$@"; }

echo "== ely-ingest --git: $files files of a git repository -> collection Source (first run: every file)"
ingest --git "$ws" --quiet --stats < /dev/null > "$OUT/ingest.results"
echo "   $(grep -c '"action":"upserted"' "$OUT/ingest.results") files upserted, $(grep -c '"action":"skipped"' "$OUT/ingest.results") skipped"

echo "== a commit changes a file, renames one and deletes one; ely-ingest takes only that"
echo "// changed by the demo" >> "$ws/ely/crates/core/ingest.rs"
git -C "$ws/ely" mv crates/core/convert.rs crates/core/convert_renamed.rs
git -C "$ws/ely" rm -q crates/core/backup.rs
git -C "$ws/ely" commit -q -am "a change, a rename, a delete"
ingest --git "$ws" --quiet < /dev/null | tee "$OUT/ingest.results"
grep -q '"path":"crates/core/convert_renamed.rs","op":"modify","from":"crates/core/convert.rs","action":"upserted"' "$OUT/ingest.results"
grep -q '"path":"crates/core/backup.rs","op":"delete","action":"deleted"' "$OUT/ingest.results"

echo "== a repeated run writes nothing (only the changeset line)"
ingest --git "$ws" --quiet < /dev/null | tee "$OUT/ingest.results"
if grep -q '"path"' "$OUT/ingest.results"; then
  echo "a repeated run ingested files again" >&2
  exit 1
fi

mgit=${ELY_MGIT:-$HOME/.cache/ely-mgit/bin/mgit}
if [ -x "$mgit" ]; then
  echo "== mgit diff --embed-content | ely-ingest: uncommitted changes, summaries replaced by the files"
  printf '%s\n' "# notes, not committed" > "$ws/ely/NOTES.txt"
  "$mgit" diff "$ws" --embed-content 2>/dev/null | ingest --root "$ws" --quiet
else
  echo "== (mgit is not installed: ../shared/mgit/install.sh installs it for the mgit step)"
fi

echo "== generating a sample dataset: $OBJECTS objects with $DIMS-dimension vectors"
"$bin/ely-gen" --objects "$OBJECTS" --dims "$DIMS" -o "$OUT/sample.jsonl"

echo "== ely-restore: sample.jsonl -> collection Code in $store"
"$bin/ely-restore" --store "$store" -i "$OUT/sample.jsonl" --quiet --stats > /dev/null

echo "== ely-backup: collection Code -> backup.jsonl.zst (the manifest line follows)"
"$bin/ely-backup" --store "$store" --collection Code -o "$OUT/backup.jsonl.zst" --quiet
echo "   verify: $("$bin/ely-convert" --check -i "$OUT/backup.jsonl.zst")"

echo "== ely-restore: backup.jsonl.zst -> collection CodeCopy, then compare the two"
"$bin/ely-restore" --store "$store" -i "$OUT/backup.jsonl.zst" --collection CodeCopy \
  --quiet --stats > /dev/null
"$bin/ely-backup" --store "$store" -c Code --quiet | "$bin/ely-convert" --plain \
  | sed 's/"lastUpdateTimeUnix":[0-9]*//; s/"creationTimeUnix":[0-9]*//' > "$OUT/copy.a"
"$bin/ely-backup" --store "$store" -c CodeCopy --quiet | "$bin/ely-convert" --plain \
  | sed 's/"class":"CodeCopy"/"class":"Code"/; s/"lastUpdateTimeUnix":[0-9]*//; s/"creationTimeUnix":[0-9]*//' \
  > "$OUT/copy.b"
cmp "$OUT/copy.a" "$OUT/copy.b"
echo "   Code and CodeCopy hold the same $(wc -l < "$OUT/copy.a") objects, vectors bit for bit"
rm -f "$OUT/copy.a" "$OUT/copy.b"

echo "== a repeated restore with --only-changed writes nothing"
"$bin/ely-restore" --store "$store" -i "$OUT/backup.jsonl.zst" --only-changed --quiet --stats > /dev/null

echo "== ely-backup -o backup.parquet: typed columns, float32 vectors; back to JSONL byte for byte"
"$bin/ely-backup" --store "$store" -c Code -o "$OUT/backup.parquet"
cmp <("$bin/ely-convert" -i "$OUT/backup.parquet" --plain --quiet) \
    <("$bin/ely-convert" -i "$OUT/backup.jsonl.zst" --plain --quiet)
echo "   the same object lines as the JSONL backup ($(stat -c %s "$OUT/backup.parquet") bytes against $(stat -c %s "$OUT/backup.jsonl.zst") as zstd JSONL)"
if python3 -c 'import duckdb' 2> /dev/null; then
  echo "   DuckDB reads it as it is:"
  python3 -c "import duckdb; print(duckdb.sql(\"SELECT language, count(*) AS objects, any_value(typeof(id)) AS id, any_value(typeof(vector)) AS vector FROM '$OUT/backup.parquet' GROUP BY language ORDER BY language\"))"
fi
echo "== ely-restore -i backup.parquet -> collection FromParquet"
"$bin/ely-restore" --store "$store" -i "$OUT/backup.parquet" --collection FromParquet --quiet --stats > /dev/null

for ext in gz lz4; do
  echo "== ely-convert: backup.jsonl.zst -> backup.jsonl.$ext"
  "$bin/ely-convert" -i "$OUT/backup.jsonl.zst" -o "$OUT/backup.jsonl.$ext" --quiet
  cmp <("$bin/ely-convert" -i "$OUT/backup.jsonl.$ext" --quiet) \
      <("$bin/ely-convert" -i "$OUT/backup.jsonl.zst" --quiet)
  echo "   decompresses to the same stream as the zstd backup"
done

echo "== a damaged backup is caught (exit 4 expected)"
size=$(wc -c < "$OUT/backup.jsonl.zst")
head -c $((size / 2)) "$OUT/backup.jsonl.zst" > "$OUT/backup.cut.zst"
set +e
"$bin/ely-convert" --check -i "$OUT/backup.cut.zst" > /dev/null
code=$?
set -e
if [ "$code" -ne 4 ]; then
  echo "expected exit 4 for a truncated file, got $code" >&2
  exit 1
fi
echo "   exit $code, as expected"

echo "== restoring the damaged backup writes nothing (it is verified first; exit 4 expected)"
set +e
"$bin/ely-restore" --store "$store" -i "$OUT/backup.cut.zst" --collection Damaged --quiet \
  > /dev/null
code=$?
set -e
rm -f "$OUT/backup.cut.zst"
if [ "$code" -ne 4 ]; then
  echo "expected exit 4 for a truncated file, got $code" >&2
  exit 1
fi
if "$bin/ely-backup" --store "$store" -c Damaged --quiet > /dev/null 2>&1; then
  echo "collection Damaged exists: something of the damaged backup was written" >&2
  exit 1
fi
echo "   exit $code, and no collection Damaged in $store"

# --- ely-catalog -------------------------------------------------------------------------------
catalog() { "$bin/ely-catalog" --catalog "$OUT/catalog.db" "$@"; }
echo "== ely-catalog: record the backups written above (read back from the files), list them"
catalog add "$OUT/backup.jsonl.zst" "$OUT/backup.parquet" "$OUT/backup.jsonl.gz" --tag demo > /dev/null
# A table on a terminal, JSON lines in a pipe.
catalog list
echo "== ely-catalog verify --all --deep: every line, count and trailer"
catalog verify --all --deep
echo "== ely-catalog schedule add nightly: a backup plan, its entry in a crontab file"
catalog schedule add nightly --collection Code --store "$store" --every '0 2 * * *' \
  --to "$OUT/nightly" --keep-last 1 --crontab-file "$OUT/crontab"
sed 's/^/   /' "$OUT/crontab"
echo "== ely-catalog schedule run nightly, twice (what cron runs): back up, catalog, verify, keep the last"
catalog schedule run nightly
catalog schedule run nightly
echo "   files kept in nightly/: $(ls "$OUT/nightly" | wc -l)"
echo "== ely-catalog cleanup --keep-daily 7 --dry-run: each backup's verdict and why"
catalog cleanup --keep-daily 7 --keep-last 1 --dry-run
catalog schedule remove nightly

# --- ely-repo ----------------------------------------------------------------------------------
echo "== ely-repo add: the repository of step 1, pushed to a bare remote, under sync in one command"
git clone -q --bare "$ws/ely" "$OUT/remote.git"
repo() { ELY_HOME="$OUT/repo-home" "$bin/ely-repo" "$@"; }
repo add "file://$(cd "$OUT" && pwd)/remote.git" --name ely --collection Repo --store "$store" \
  --schedule 30m --crontab-file "$OUT/crontab-repo" --yes
sed 's/^/   /' "$OUT/crontab-repo"
echo "== a commit is pushed; ely-repo sync --cron (what cron runs) takes only that"
git clone -q "$OUT/remote.git" "$OUT/repo-work"
echo "// pushed by the demo" >> "$OUT/repo-work/crates/core/repo.rs"
git -C "$OUT/repo-work" commit -q -am "a pushed change"
git -C "$OUT/repo-work" push -q origin main
rm -rf "$OUT/repo-work"
repo sync --cron ely
echo "== ely-repo status, logs, diagnose"
repo status ely
repo logs ely
repo diagnose ely
echo "== ely-repo dashboard --once (live and full-screen on a terminal; q quits)"
repo dashboard --once --width 110 --height 24
ls -l "$OUT"
echo "== done: the store and the backups are in $OUT"
