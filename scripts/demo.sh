#!/usr/bin/env bash
# The README's first command: builds ely and runs a real job on generated data, end to end.
# Generates a sample stream (objects with text properties and 384-dimension float32 vectors),
# compresses it three ways with ely-convert, verifies each file, decompresses each back and
# checks the result is byte for byte the original.
set -euo pipefail
cd "$(dirname "$0")/.."

OBJECTS=${OBJECTS:-5000}
DIMS=${DIMS:-384}
OUT=${OUT:-target/demo}

echo "== building ely (release)"
cargo build --release --workspace --quiet
bin=target/release
mkdir -p "$OUT"
rm -f "$OUT"/sample.*

echo "== generating $OBJECTS objects with $DIMS-dimension vectors"
"$bin/ely-gen" --objects "$OBJECTS" --dims "$DIMS" -o "$OUT/sample.jsonl"

for ext in zst gz lz4; do
  echo "== sample.jsonl -> sample.jsonl.$ext"
  "$bin/ely-convert" -i "$OUT/sample.jsonl" -o "$OUT/sample.jsonl.$ext" --stats --quiet
  echo "   verify: $("$bin/ely-convert" --check -i "$OUT/sample.jsonl.$ext")"
  "$bin/ely-convert" -i "$OUT/sample.jsonl.$ext" --quiet | cmp - "$OUT/sample.jsonl"
  echo "   decompressed back: identical to the original"
done

echo "== a damaged copy is caught (exit 4 expected)"
size=$(wc -c < "$OUT/sample.jsonl.zst")
head -c $((size / 2)) "$OUT/sample.jsonl.zst" > "$OUT/sample.cut.zst"
set +e
"$bin/ely-convert" --check -i "$OUT/sample.cut.zst" > /dev/null
code=$?
set -e
rm -f "$OUT/sample.cut.zst"
if [ "$code" -ne 4 ]; then
  echo "expected exit 4 for a truncated file, got $code" >&2
  exit 1
fi
echo "   exit $code, as expected"
ls -l "$OUT"/sample.*
echo "== done: files in $OUT"
