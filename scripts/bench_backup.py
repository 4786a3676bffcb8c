#!/usr/bin/env python3
"""bench_backup.py: the official Python client (weaviate-client 3.26.7, v3 API, REST) doing
the work of `ely-restore` and `ely-backup`, for scripts/bench-backup.sh, and the benchmark's
correctness check.

  restore  load objects from JSON lines (untimed), delete the class, then time client.batch
           (batch_size=100, num_workers=4, fixed size) adding every object; the class is
           created by the server's auto-schema, as for `ely-restore` of plain object lines
  backup   time a cursor loop over client.data_object.get(..., after=cursor,
           additional_properties=["vector"]) that writes every object as one JSON line to a
           file, until an empty page
  check    compare object files (ely streams or plain JSON lines) with the generated objects:
           the same ids, equal properties, the same float32 vectors; files given with --text
           must also carry every vector as the same text
  drop     delete a class

restore and backup print one JSON line on stdout ("seconds" and "cpu_seconds" cover the timed
section only), in the shape scripts/bench_store.py uses. check runs with any python3; the
other commands need the Python client.
"""

import argparse
import hashlib
import json
import re
import struct
import sys
import time

from bench_common import (
    PROG,
    add_batch_args,
    add_class_args,
    add_drop,
    batch_import,
    connect,
    cursor_pages,
    fail,
    load,
    report,
)


def cmd_restore(args):
    objects = load(args.input)
    client = connect(args.url)
    client.schema.delete_class(args.cls)
    seconds, cpu = batch_import(client, args.cls, objects, args.batch_size, args.workers)
    report("restore", len(objects), seconds, cpu, workers=args.workers, batch_size=args.batch_size)


def cmd_backup(args):
    client = connect(args.url)
    cpu = time.process_time()
    start = time.perf_counter()
    n = 0
    pages = 0
    with open(args.output, "w", encoding="utf-8") as out:
        for objects in cursor_pages(client, args.cls, args.page):
            for o in objects:
                out.write(json.dumps(o))
                out.write("\n")
            n += len(objects)
            pages += 1
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    if args.expect is not None and n != args.expect:
        fail(f"the cursor gave {n} objects, expected {args.expect}")
    report("backup", n, seconds, cpu, page=args.page, requests=pages + 1)


# --- check ------------------------------------------------------------------------------------

VECTOR = re.compile(r'"vector"\s*:\s*\[([^\]]*)\]')


def split(line):
    """An object line as (object without its vector, the vector's text without blanks)."""
    m = VECTOR.search(line)
    if m is None:
        return json.loads(line), None
    rest = line[: m.start()] + '"vector":[]' + line[m.end() :]
    return json.loads(rest), re.sub(r"\s+", "", m.group(1))


def bits(text):
    """The float32 bytes of a vector's text."""
    values = [float(x) for x in text.split(",")] if text else []
    return struct.pack(f"<{len(values)}f", *values)


def digest(data):
    return hashlib.blake2b(data.encode() if isinstance(data, str) else data, digest_size=16).digest()


def same(a, b):
    """Equal JSON values, numbers compared by value (10 == 10.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def cmd_check(args):
    # id -> (properties, digest of the vector text, digest of the vector's float32 bytes)
    want = {}
    with open(args.input, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            o, text = split(line)
            if text is None:
                fail(f"{args.input}: object {o.get('id')} has no vector")
            want[o["id"]] = (o["properties"], digest(text), digest(bits(text)))

    texts = {}  # id -> vector text digest, from the first --text file
    failures = []
    for path in args.files + args.text:
        compare_text = path in args.text
        seen = set()
        trailer = None
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                o, text = split(line)
                if "ely" in o:
                    if o["ely"] == "trailer":
                        trailer = o.get("objects")
                    continue
                where = f"{path}:{number}: object {o.get('id')}"
                w = want.get(o.get("id"))
                if w is None:
                    failures.append(f"{where}: not one of the generated objects")
                    continue
                if o["id"] in seen:
                    failures.append(f"{where}: appears twice")
                seen.add(o["id"])
                if not same(o.get("properties"), w[0]):
                    failures.append(f"{where}: properties differ")
                if text is None:
                    failures.append(f"{where}: no vector")
                    continue
                d = digest(text)
                if d != w[1] and digest(bits(text)) != w[2]:
                    failures.append(f"{where}: vector differs")
                if compare_text:
                    first = texts.setdefault(o["id"], d)
                    if first != d:
                        failures.append(f"{where}: vector text differs from {args.text[0]}")
                if len(failures) >= 10:
                    break
        if len(seen) != len(want):
            failures.append(f"{path}: {len(seen)} objects, expected {len(want)}")
        if trailer is not None and trailer != len(seen):
            failures.append(f"{path}: the trailer counts {trailer} objects, the stream holds {len(seen)}")
        if failures:
            break
        print(
            f"{PROG}: {path}: {len(seen)} objects match"
            + (" (vector text compared)" if compare_text else ""),
            file=sys.stderr,
        )
    if failures:
        fail("check failed:\n  " + "\n  ".join(failures[:10]))
    print(json.dumps({"op": "check", "objects": len(want), "files": len(args.files) + len(args.text), "ok": True}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("restore", help="time a batch import of object lines")
    add_batch_args(r)
    r.set_defaults(run=cmd_restore)

    b = sub.add_parser("backup", help="time a cursor export with vectors into a JSON lines file")
    add_class_args(b)
    b.add_argument("--output", required=True)
    b.add_argument("--page", type=int, default=1000)
    b.add_argument("--expect", type=int)
    b.set_defaults(run=cmd_backup)

    c = sub.add_parser("check", help="compare object files with the generated objects")
    c.add_argument("--input", required=True, help="JSON lines from ely-store-bench gen")
    c.add_argument("--text", action="append", default=[], help="a file whose vector text must match the other --text files (repeatable)")
    c.add_argument("files", nargs="*", help="files compared by value only")
    c.set_defaults(run=cmd_check)

    add_drop(sub)

    args = p.parse_args()
    args.run(args)


if __name__ == "__main__":
    sys.exit(main())
