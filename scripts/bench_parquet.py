#!/usr/bin/env python3
"""bench_parquet.py: the Python side of scripts/bench-parquet.sh: pyarrow and DuckDB doing
what `ely-convert` does between JSON lines and Parquet, and the checks of every Parquet file.

  pyarrow-parquet   pyarrow.json.read_json(INPUT) + pyarrow.parquet.write_table(OUTPUT,
                    compression="zstd"), pyarrow's defaults otherwise (its thread pool uses
                    every core)
  duckdb-parquet    COPY (SELECT * FROM read_json('INPUT')) TO 'OUTPUT'
                    (FORMAT parquet, COMPRESSION zstd), after SET threads=THREADS
  duckdb-jsonl      COPY (SELECT * FROM 'INPUT') TO 'OUTPUT' (FORMAT json), after SET
                    threads=THREADS
  inspect           one JSON line per Parquet file: rows, row groups, the vector column's
                    Arrow type and value type; exit 1 when a file's rows are not --rows
  compare           check that ELY.parquet holds the objects of REF.parquet (pyarrow's, read
                    from the same JSON lines): the same ids in the same order, and vectors
                    equal to pyarrow's float64 numbers rounded to float32, bit for bit

The input of the first two is plain JSON lines (object lines only: no ely header or
trailer), which pyarrow and DuckDB read as one table. Each timed command prints one JSON
line on stdout: {"tool", "op", "rows", "seconds", "cpu_seconds"}, where seconds and
cpu_seconds cover the timed section only (the library calls above), not starting Python or
importing the library.
"""

import argparse
import json
import os
import sys
import time

PROG = os.path.basename(sys.argv[0])


def fail(message):
    raise SystemExit(f"{PROG}: {message}")


class Section:
    """Wall and CPU seconds (this process, every thread) of a with block."""

    def __enter__(self):
        self.cpu = time.process_time()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        self.cpu = time.process_time() - self.cpu
        return False


def report(tool, op, rows, section):
    print(
        json.dumps(
            {
                "tool": tool,
                "op": op,
                "rows": rows,
                "seconds": round(section.seconds, 4),
                "cpu_seconds": round(section.cpu, 4),
            }
        )
    )


def sql_string(s):
    return "'" + s.replace("'", "''") + "'"


def cmd_pyarrow_parquet(args):
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    with Section() as s:
        table = pj.read_json(args.input)
        pq.write_table(table, args.output, compression="zstd")
    report("pyarrow", "to-parquet", table.num_rows, s)


def duckdb_connect(threads):
    import duckdb

    con = duckdb.connect()  # in memory
    con.execute(f"SET threads={int(threads)}")
    return con


def cmd_duckdb_parquet(args):
    import duckdb  # noqa: F401 (imported before the clock starts)

    with Section() as s:
        con = duckdb_connect(args.threads)
        rows = con.execute(
            f"COPY (SELECT * FROM read_json({sql_string(args.input)})) TO {sql_string(args.output)} "
            "(FORMAT parquet, COMPRESSION zstd)"
        ).fetchone()[0]
        con.close()
    report("duckdb", "to-parquet", rows, s)


def cmd_duckdb_jsonl(args):
    import duckdb  # noqa: F401

    with Section() as s:
        con = duckdb_connect(args.threads)
        rows = con.execute(
            f"COPY (SELECT * FROM {sql_string(args.input)}) TO {sql_string(args.output)} (FORMAT json)"
        ).fetchone()[0]
        con.close()
    report("duckdb", "to-jsonl", rows, s)


def vector_type(schema):
    """The vector column's Arrow type and its values' type, or "-" when there is none."""
    if "vector" not in schema.names:
        return "-", "-"
    t = schema.field("vector").type
    value = getattr(t, "value_type", None)
    return str(t), (str(value) if value is not None else "-")


def cmd_inspect(args):
    import pyarrow.parquet as pq

    bad = []
    for path in args.files:
        f = pq.ParquetFile(path)
        md = f.metadata
        vtype, value = vector_type(f.schema_arrow)
        compression = sorted(
            {
                md.row_group(g).column(c).compression
                for g in range(md.num_row_groups)
                for c in range(md.num_columns)
            }
        )
        print(
            json.dumps(
                {
                    "file": path,
                    "rows": md.num_rows,
                    "row_groups": md.num_row_groups,
                    "columns": md.num_columns,
                    "vector_type": vtype,
                    "vector_value": value,
                    "compression": ",".join(compression),
                    "created_by": md.created_by,
                }
            )
        )
        if args.rows is not None and md.num_rows != args.rows:
            bad.append(f"{path}: {md.num_rows} rows, expected {args.rows}")
    if bad:
        fail("; ".join(bad))


def uuid_strings(column):
    """A column of ids as lower-case UUID strings: ely and DuckDB store them as UUIDs (16
    bytes, the arrow.uuid extension type), pyarrow as the strings of the JSON."""
    import uuid

    def text(v):
        if isinstance(v, uuid.UUID):
            return str(v)
        if isinstance(v, bytes):
            return str(uuid.UUID(bytes=v))
        return v.lower()

    return [text(v) for v in column.to_pylist()]


def cmd_compare(args):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ely = pq.read_table(args.ely, columns=["id", "vector"])
    ref = pq.read_table(args.ref, columns=["id", "vector"])
    if ely.num_rows != ref.num_rows:
        fail(f"{args.ely} has {ely.num_rows} rows, {args.ref} {ref.num_rows}")

    ely_ids = uuid_strings(ely.column("id"))
    ref_ids = uuid_strings(ref.column("id"))
    if ely_ids != ref_ids:
        diff = next(i for i, (a, b) in enumerate(zip(ely_ids, ref_ids)) if a != b)
        fail(f"ids differ first at row {diff}: {ely_ids[diff]} (ely) vs {ref_ids[diff]}")

    # Vectors: the same lengths, and ely's float32 numbers equal to the JSON's (the
    # reference's float64) rounded to float32, bit for bit.
    ev = ely.column("vector").combine_chunks()
    rv = ref.column("vector").combine_chunks()
    if ev.null_count or rv.null_count:
        fail(f"null vectors: {ev.null_count} (ely), {rv.null_count} (reference)")
    if pc.any(pc.not_equal(pc.list_value_length(ev), pc.list_value_length(rv))).as_py():
        fail("vector lengths differ")
    e = pc.list_flatten(ev)
    if e.type != pa.float32():
        fail(f"ely's vector values are {e.type}, not float")
    r = pc.cast(pc.list_flatten(rv), pa.float32(), safe=False)
    differ = pc.sum(pc.not_equal(e.view(pa.uint32()), r.view(pa.uint32()))).as_py() or 0
    if differ:
        fail(f"{differ} of {len(e)} vector numbers differ from the reference's (rounded to float32)")
    print(json.dumps({"ely": args.ely, "ref": args.ref, "rows": ely.num_rows, "numbers": len(e), "equal": True}))


def cmd_versions(args):
    import duckdb
    import pyarrow

    print(f"python {sys.version.split()[0]}, pyarrow {pyarrow.__version__}, duckdb {duckdb.__version__}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("pyarrow-parquet", help="time pyarrow JSON lines -> Parquet")
    a.add_argument("--input", required=True, help="plain JSON lines (objects only)")
    a.add_argument("--output", required=True)
    a.set_defaults(run=cmd_pyarrow_parquet)

    d = sub.add_parser("duckdb-parquet", help="time DuckDB JSON lines -> Parquet")
    d.add_argument("--input", required=True, help="plain JSON lines (objects only)")
    d.add_argument("--output", required=True)
    d.add_argument("--threads", type=int, default=2)
    d.set_defaults(run=cmd_duckdb_parquet)

    j = sub.add_parser("duckdb-jsonl", help="time DuckDB Parquet -> JSON lines")
    j.add_argument("--input", required=True)
    j.add_argument("--output", required=True)
    j.add_argument("--threads", type=int, default=2)
    j.set_defaults(run=cmd_duckdb_jsonl)

    i = sub.add_parser("inspect", help="rows and vector type of Parquet files")
    i.add_argument("--rows", type=int, help="fail unless every file has this many rows")
    i.add_argument("files", nargs="+")
    i.set_defaults(run=cmd_inspect)

    c = sub.add_parser("compare", help="check ely's Parquet against pyarrow's")
    c.add_argument("--ely", required=True)
    c.add_argument("--ref", required=True, help="pyarrow's Parquet of the same objects")
    c.set_defaults(run=cmd_compare)

    v = sub.add_parser("versions", help="print the versions of python, pyarrow and duckdb")
    v.set_defaults(run=cmd_versions)

    args = p.parse_args()
    args.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
