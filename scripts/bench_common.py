"""bench_common.py: what scripts/bench_store.py and scripts/bench_backup.py share: the
official Python client's connection (weaviate-client 3.26.7, v3 API, REST), loading the
generated objects, the timed batch import, the cursor loop, the JSON line a timed command
prints, and the command-line arguments the two scripts have in common.

weaviate is imported on connecting only, so commands that need no server run with any python3.
"""

import json
import os
import sys
import time

# The running script's name, which starts every error message.
PROG = os.path.basename(sys.argv[0])


def fail(message):
    raise SystemExit(f"{PROG}: {message}")


def connect(url):
    import warnings

    warnings.filterwarnings("ignore")  # the v3 client's deprecation notices
    import weaviate

    return weaviate.Client(url, timeout_config=(10, 120))


def load(path):
    with open(path, "rb") as f:
        return [json.loads(line) for line in f if line.strip()]


def count(client, cls):
    answer = client.query.aggregate(cls).with_meta_count().do()
    if "errors" in answer:
        fail(f"counting {cls}: {answer['errors']}")
    groups = answer["data"]["Aggregate"][cls]
    return groups[0]["meta"]["count"] if groups else 0


def batch_errors():
    """A list of the failed items' errors, and the client.batch callback that fills it."""
    errors = []

    def callback(results):
        # One list per batch request; an item failed when it carries errors.
        for item in results or []:
            err = (item.get("result") or {}).get("errors")
            if err:
                errors.append(err)

    return errors, callback


def batch_import(client, cls, objects, batch_size, workers):
    """Time client.batch (fixed batches of batch_size, num_workers=workers) adding every
    object to cls, then check that no item failed and that the server counts them all.
    Returns the timed section's wall and CPU seconds."""
    errors, callback = batch_errors()
    client.batch.configure(
        batch_size=batch_size,
        num_workers=workers,
        dynamic=False,
        callback=callback,
    )
    cpu = time.process_time()
    start = time.perf_counter()
    with client.batch as batch:
        for o in objects:
            batch.add_data_object(o["properties"], cls, uuid=o["id"], vector=o["vector"])
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    client.batch.shutdown()

    if errors:
        fail(f"{len(errors)} of {len(objects)} objects failed; the first: {errors[0]}")
    n = count(client, cls)
    if n != len(objects):
        fail(f"the server counts {n} objects after writing {len(objects)}")
    return seconds, cpu


def cursor_pages(client, cls, page):
    """The pages of a cursor loop over client.data_object.get(..., after=cursor,
    additional_properties=["vector"]), until an empty page. The loop makes one request more
    than it yields pages: the one that answers the empty page."""
    cursor = None
    while True:
        answer = client.data_object.get(
            class_name=cls,
            limit=page,
            after=cursor,
            additional_properties=["vector"],
        )
        objects = answer.get("objects") or []
        if not objects:
            return
        cursor = objects[-1]["id"]
        yield objects


def report(op, n, seconds, cpu, **extra):
    """Print the JSON line of a timed command, in the shape ely-store-bench uses."""
    line = {"tool": "python", "store": "weaviate", "op": op, "objects": n}
    line.update(extra)
    line.update(
        {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "objects_per_sec": n / seconds if seconds > 0 else 0,
        }
    )
    print(json.dumps(line))


def add_class_args(parser):
    parser.add_argument("--url", required=True)
    parser.add_argument("--class", dest="cls", default="Bench")


def add_batch_args(parser):
    """The arguments of a timed batch import: the class, the objects and the batching."""
    add_class_args(parser)
    parser.add_argument("--input", required=True, help="JSON lines from ely-store-bench gen")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=100)


def cmd_drop(args):
    connect(args.url).schema.delete_class(args.cls)


def add_drop(subparsers):
    d = subparsers.add_parser("drop", help="delete a class")
    add_class_args(d)
    d.set_defaults(run=cmd_drop)
