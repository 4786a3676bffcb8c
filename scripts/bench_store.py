#!/usr/bin/env python3
"""bench_store.py: the official Python client (weaviate-client 3.26.7, v3 API, REST) doing
the work `ely-store-bench` does, for scripts/bench-store.sh.

  import  load objects from JSON lines (untimed), (re)create the class, then time
          client.batch (batch_size=100, num_workers=4, fixed size) adding every object
  export  time a cursor loop over client.data_object.get(..., after=cursor,
          additional_properties=["vector"]) until an empty page

The objects come from `ely-store-bench gen` with the same --objects/--dims/--seed as the ely
runs, so both clients send the same objects. Each command prints one JSON line on stdout,
in the shape ely-store-bench uses.
"""

import argparse
import sys
import time

from bench_common import (
    add_batch_args,
    add_class_args,
    add_drop,
    batch_import,
    connect,
    count,
    cursor_pages,
    fail,
    load,
    report,
)

# The Python types of the generated properties, and their Weaviate data types.
DATA_TYPES = {str: "text", int: "int"}


def class_def(name, objects):
    """The class ely-store-bench creates for these objects: no vectorizer, and a text or int
    property for each property of the objects, in their order."""
    properties = objects[0]["properties"] if objects else {}
    return {
        "class": name,
        "vectorizer": "none",
        "properties": [{"name": k, "dataType": [DATA_TYPES[type(v)]]} for k, v in properties.items()],
    }


def cmd_import(args):
    objects = load(args.input)
    client = connect(args.url)
    client.schema.delete_class(args.cls)
    client.schema.create_class(class_def(args.cls, objects))
    seconds, cpu = batch_import(client, args.cls, objects, args.batch_size, args.workers)
    report(
        "import",
        len(objects),
        seconds,
        cpu,
        dims=len(objects[0]["vector"]) if objects else 0,
        in_flight=args.workers,
    )


def cmd_export(args):
    client = connect(args.url)
    expected = args.expect if args.expect is not None else count(client, args.cls)

    # Pages are kept, as an exporter holds a page while writing it.
    cpu = time.process_time()
    start = time.perf_counter()
    pages = list(cursor_pages(client, args.cls, args.page))
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu

    got = [o for page in pages for o in page]
    if len(got) != expected:
        fail(f"the cursor gave {len(got)} objects, expected {expected}")
    if any(not o.get("vector") for o in got):
        fail("an object came back without its vector")
    if args.input:
        want = {o["id"]: o for o in load(args.input)}
        for o in got:
            w = want.get(o["id"])
            if w is None or o["properties"] != w["properties"] or o["vector"] != w["vector"]:
                fail(f"object {o['id']} differs from the one imported")
    report(
        "export",
        len(got),
        seconds,
        cpu,
        page=args.page,
        requests=len(pages) + 1,
        verified=bool(args.input),
    )


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    i = sub.add_parser("import", help="time a batch import")
    add_batch_args(i)
    i.set_defaults(run=cmd_import)

    e = sub.add_parser("export", help="time a cursor export with vectors")
    add_class_args(e)
    e.add_argument("--page", type=int, default=1000)
    e.add_argument("--expect", type=int)
    e.add_argument("--input", help="after the clock stops, compare with these objects")
    e.set_defaults(run=cmd_export)

    add_drop(sub)

    args = p.parse_args()
    args.run(args)


if __name__ == "__main__":
    sys.exit(main())
