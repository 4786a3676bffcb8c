"""Writes Parquet files in the layout of Weaviate's own export (CONTRACT.md section 15), with
pyarrow, into the folder given, and the objects they hold into expect.json beside it: the
tests of ely-parquet restore them and compare."""
import pyarrow as pa, pyarrow.parquet as pq, struct, json, uuid, os, random, sys
random.seed(1)
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
expect = []
def write(name, collection, tenant, n, named):
    ids, ct, ut, vec, nv, mv, props = [], [], [], [], [], [], []
    for i in range(n):
        oid = str(uuid.UUID(int=random.getrandbits(128), version=4))
        ids.append(oid); ct.append(1700000000000 + i); ut.append(1700000000500 + i)
        v = struct.unpack('<8f', struct.pack('<8f', *[random.uniform(-1, 1) for _ in range(8)]))
        p = {"title": f"{name} {i} naïve", "views": i, "tags": ["a", "b"]}
        if named:
            vec.append(None); nv.append(json.dumps({"body": list(v)}).encode())
            mv.append(json.dumps({"colbert": [list(v[:2]), list(v[2:4])]}).encode())
        else:
            vec.append(struct.pack('<8f', *v)); nv.append(None); mv.append(None)
        props.append(json.dumps(p).encode())
        expect.append({"collection": collection, "id": oid, "tenant": tenant, "properties": p, "vector": list(v)})
    t = pa.table({
        "id": pa.array(ids).dictionary_encode(),
        "creation_time": pa.array(ct, pa.int64()),
        "update_time": pa.array(ut, pa.int64()),
        "vector": pa.array(vec, pa.binary()),
        "named_vectors": pa.array(nv, pa.binary()),
        "multi_vectors": pa.array(mv, pa.binary()),
        "properties": pa.array(props, pa.binary()),
    })
    md = {"collection": collection}
    if tenant: md["tenant"] = tenant
    pq.write_table(t.replace_schema_metadata(md), os.path.join(out, name + ".parquet"), compression="zstd")
write("Article_shardA_0000", "Article", None, 40, False)
write("Article_shardB_0000", "Article", None, 30, False)
write("Doc_tenant1_0000", "Doc", "tenant1", 20, True)
write("Doc_tenant2_0000", "Doc", "tenant2", 15, True)
open(os.path.join(out, "export_metadata.json"), "w").write("{}")
json.dump(expect, open(os.path.join(out, "..", "expect.json"), "w"))
