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
import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")  # the v3 client's deprecation notices

import weaviate  # noqa: E402


def class_def(name):
    # The same class ely-store-bench creates.
    return {
        "class": name,
        "vectorizer": "none",
        "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "body", "dataType": ["text"]},
            {"name": "category", "dataType": ["text"]},
            {"name": "rank", "dataType": ["int"]},
            {"name": "words", "dataType": ["int"]},
        ],
    }


def connect(url):
    return weaviate.Client(url, timeout_config=(10, 120))


def load(path):
    with open(path, "rb") as f:
        return [json.loads(line) for line in f if line.strip()]


def count(client, cls):
    answer = client.query.aggregate(cls).with_meta_count().do()
    if "errors" in answer:
        raise SystemExit(f"bench_store.py: counting {cls}: {answer['errors']}")
    groups = answer["data"]["Aggregate"][cls]
    return groups[0]["meta"]["count"] if groups else 0


def cmd_import(args):
    objects = load(args.input)
    client = connect(args.url)
    client.schema.delete_class(args.cls)
    client.schema.create_class(class_def(args.cls))

    errors = []

    def callback(results):
        # One list per batch request; an item failed when it carries errors.
        for item in results or []:
            err = (item.get("result") or {}).get("errors")
            if err:
                errors.append(err)

    client.batch.configure(
        batch_size=args.batch_size,
        num_workers=args.workers,
        dynamic=False,
        callback=callback,
    )
    cpu = time.process_time()
    start = time.perf_counter()
    with client.batch as batch:
        for o in objects:
            batch.add_data_object(o["properties"], args.cls, uuid=o["id"], vector=o["vector"])
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    client.batch.shutdown()

    if errors:
        raise SystemExit(
            f"bench_store.py: {len(errors)} of {len(objects)} objects failed; the first: {errors[0]}"
        )
    n = count(client, args.cls)
    if n != len(objects):
        raise SystemExit(f"bench_store.py: the server counts {n} objects after writing {len(objects)}")
    print(
        json.dumps(
            {
                "tool": "python",
                "store": "weaviate",
                "op": "import",
                "objects": len(objects),
                "dims": len(objects[0]["vector"]) if objects else 0,
                "in_flight": args.workers,
                "seconds": seconds,
                "cpu_seconds": cpu,
                "objects_per_sec": len(objects) / seconds if seconds > 0 else 0,
            }
        )
    )


def cmd_export(args):
    client = connect(args.url)
    expected = args.expect if args.expect is not None else count(client, args.cls)

    # Pages are kept, as an exporter holds a page while writing it.
    cpu = time.process_time()
    start = time.perf_counter()
    pages = []
    cursor = None
    requests = 0
    while True:
        answer = client.data_object.get(
            class_name=args.cls,
            limit=args.page,
            after=cursor,
            additional_properties=["vector"],
        )
        requests += 1
        objects = answer.get("objects") or []
        if not objects:
            break
        cursor = objects[-1]["id"]
        pages.append(objects)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu

    got = [o for page in pages for o in page]
    if len(got) != expected:
        raise SystemExit(f"bench_store.py: the cursor gave {len(got)} objects, expected {expected}")
    if any(not o.get("vector") for o in got):
        raise SystemExit("bench_store.py: an object came back without its vector")
    if args.input:
        want = {o["id"]: o for o in load(args.input)}
        for o in got:
            w = want.get(o["id"])
            if w is None or o["properties"] != w["properties"] or o["vector"] != w["vector"]:
                raise SystemExit(f"bench_store.py: object {o['id']} differs from the one imported")
    print(
        json.dumps(
            {
                "tool": "python",
                "store": "weaviate",
                "op": "export",
                "objects": len(got),
                "page": args.page,
                "requests": requests,
                "verified": bool(args.input),
                "seconds": seconds,
                "cpu_seconds": cpu,
                "objects_per_sec": len(got) / seconds if seconds > 0 else 0,
            }
        )
    )


def cmd_drop(args):
    connect(args.url).schema.delete_class(args.cls)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    i = sub.add_parser("import", help="time a batch import")
    i.add_argument("--url", required=True)
    i.add_argument("--class", dest="cls", default="Bench")
    i.add_argument("--input", required=True, help="JSON lines from ely-store-bench gen")
    i.add_argument("--workers", type=int, default=4)
    i.add_argument("--batch-size", type=int, default=100)
    i.set_defaults(run=cmd_import)

    e = sub.add_parser("export", help="time a cursor export with vectors")
    e.add_argument("--url", required=True)
    e.add_argument("--class", dest="cls", default="Bench")
    e.add_argument("--page", type=int, default=1000)
    e.add_argument("--expect", type=int)
    e.add_argument("--input", help="after the clock stops, compare with these objects")
    e.set_defaults(run=cmd_export)

    d = sub.add_parser("drop", help="delete a class")
    d.add_argument("--url", required=True)
    d.add_argument("--class", dest="cls", default="Bench")
    d.set_defaults(run=cmd_drop)

    args = p.parse_args()
    args.run(args)


if __name__ == "__main__":
    sys.exit(main())
