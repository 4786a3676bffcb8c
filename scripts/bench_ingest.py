#!/usr/bin/env python3
"""bench_ingest.py: the repositories of scripts/bench-ingest.sh, and the official Python client
(weaviate-client 3.26.7, v3 API, REST) doing the work of `ely-ingest --git`.

  gen      write a git repository of generated source files (deterministic from --seed): a
           long-tailed size distribution (most files 2-20 KiB, a tenth 20-200 KiB, a few tiny
           or empty, about 15 KB on average), twelve languages (.py .rs .go .ts .js .java .c
           .h .md .json .yaml .toml) in a tree of directories (src/, pkg/x/, docs/, ...), text
           that looks like code (ASCII lines of 20-100 characters, some blank); one commit with
           fixed dates, so the same settings give the same commit. A repository this command
           made before with the same settings is reused (reset to its commit), not rewritten
  modify   change --count files (replaced lines, lines added or removed) and commit them
  scan     what an ingest of the repository's HEAD must write: files, bytes, chunks
  index    time the Python client indexing the repository: list the files (git ls-files),
           read each one, skip what ely-ingest skips, chunk it as ely-ingest does, and add one
           object per chunk with client.batch (batch_size=100, num_workers=4, fixed size) to a
           class created with vectorizer "none" (deleted first, untimed)
  count    the number of objects in a class
  check    compare the objects of classes on a server (read with the Python client's cursor)
           and of ely streams (ely-backup's output) with what an ingest of HEAD must write: the
           same ids, the same properties (indexedAt only present)
  results  sum up ely-ingest's result lines by action: file lines (one per file) apart from
           changeset lines (one per repository, at the end of every run)
  digest   count and hash the object lines of an ely stream (ely-backup's output) on stdin
  drop     delete a class

index prints one JSON line on stdout ("seconds" and "cpu_seconds" cover the timed section only,
which leaves out starting the interpreter, connecting and deleting the class), in the shape
scripts/bench_backup.py uses. index, count, check --url and drop need the Python client; the
other commands run with any python3 (3.8 or newer) and git.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid

from bench_common import (
    PROG,
    add_class_args,
    add_drop,
    batch_errors,
    connect,
    count,
    cursor_pages,
    fail,
    report,
)

# --- what ely-ingest does ---------------------------------------------------------------------

# ely-ingest's defaults.
CHUNK_LINES = 200
CHUNK_CHARS = 8000
CHUNK_OVERLAP = 20
MAX_FILE_SIZE = 1 << 20  # --max-file-size 1M
BINARY_PROBE = 8000  # a NUL byte in the first 8000 bytes: a binary file, skipped
# As crates/ingest/src/filter.rs has them (DEFAULT_EXCLUDED_DIRS, DEFAULT_EXCLUDED_FILES).
EXCLUDED_DIRS = {".git", "node_modules", "vendor", "target", "dist", "build", "__pycache__"}
EXCLUDED_NAMES = {
    "Cargo.lock",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lockb",
    "poetry.lock",
    "Pipfile.lock",
    "uv.lock",
    "Gemfile.lock",
    "composer.lock",
    "go.sum",
    "flake.lock",
}
EXCLUDED_SUFFIXES = (".min.js", ".min.css", ".map")

LANGUAGES = {
    "py": "python",
    "rs": "rust",
    "go": "go",
    "ts": "typescript",
    "js": "javascript",
    "java": "java",
    "c": "c",
    "h": "c",
    "md": "markdown",
    "json": "json",
    "yaml": "yaml",
    "yml": "yaml",
    "toml": "toml",
}

# The properties compared by check (indexedAt is only required to be there).
COMPARED = (
    "repo",
    "path",
    "fileName",
    "extension",
    "language",
    "content",
    "chunkIndex",
    "chunkCount",
    "startLine",
    "endLine",
    "size",
    "contentHash",
    "branch",
)

PROPERTIES = [
    ("repo", "text"),
    ("path", "text"),
    ("fileName", "text"),
    ("extension", "text"),
    ("language", "text"),
    ("content", "text"),
    ("chunkIndex", "int"),
    ("chunkCount", "int"),
    ("startLine", "int"),
    ("endLine", "int"),
    ("size", "int"),
    ("contentHash", "text"),
    ("commit", "text"),
    ("branch", "text"),
    ("indexedAt", "date"),
]


def chunks(text, max_lines=CHUNK_LINES, max_chars=CHUNK_CHARS, overlap=CHUNK_OVERLAP):
    """ely-ingest's chunks of a file's text: (content, first line, last line), lines counted
    from 1. Lines keep their '\\n' and are split on '\\n' only (not str.splitlines)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    n = len(lines)
    if n == 0:
        return [("", 1, 1)]
    out, i = [], 0
    while i < n:
        j, size = i, 0
        while j < n and j - i < max_lines and (j == i or size + len(lines[j]) <= max_chars):
            size += len(lines[j])
            j += 1
        if j == i + 1 and len(lines[i]) > max_chars:
            for k in range(0, len(lines[i]), max_chars):
                out.append((lines[i][k : k + max_chars], i + 1, i + 1))
        else:
            out.append(("".join(lines[i:j]), i + 1, j))
        if j >= n:
            break
        i = max(i + 1, j - overlap)
    return out


def excluded(path):
    """True for a path ely-ingest's default excludes leave out."""
    parts = path.split("/")
    name = parts[-1]
    return (
        any(p in EXCLUDED_DIRS for p in parts[:-1])
        or name in EXCLUDED_NAMES
        or name.endswith(EXCLUDED_SUFFIXES)
    )


def object_id(repo, path, index):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ely-ingest/{len(repo)}/{repo}/{path}#{index}"))


def git(repo, *args, env=None):
    """A git command's stdout, as text; a failure is fatal."""
    p = subprocess.run(["git", "-C", repo, *args], capture_output=True, check=False, env=env)
    if p.returncode != 0:
        fail(f"git {' '.join(args)} in {repo} failed: {p.stderr.decode(errors='replace').strip()}")
    return p.stdout.decode()


def head(repo):
    """HEAD's commit and branch."""
    commit = git(repo, "rev-parse", "HEAD").strip()
    branch = git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    return commit, branch


def tracked(repo):
    """The repository's files, as git lists them (repo-relative, '/' separated)."""
    return [p for p in git(repo, "ls-files", "-z").split("\0") if p]


def ingest_objects(repo_dir, stats):
    """Every object an ingest of the repository writes, as (id, properties), file by file in
    `git ls-files` order: the files ely-ingest would index (not excluded, not larger than
    --max-file-size, not binary), each read, hashed and chunked. Counts files and bytes into
    stats. Every property but indexedAt, which the caller adds."""
    repo = os.path.basename(os.path.normpath(repo_dir))
    commit, branch = head(repo_dir)
    for path in tracked(repo_dir):
        if excluded(path):
            continue
        full = os.path.join(repo_dir, path)
        if os.path.islink(full):
            continue
        with open(full, "rb") as f:
            data = f.read(MAX_FILE_SIZE + 1)
        if len(data) > MAX_FILE_SIZE or b"\0" in data[:BINARY_PROBE]:
            continue
        stats["files"] += 1
        stats["bytes"] += len(data)
        name = path.rsplit("/", 1)[-1]
        ext = name.rsplit(".", 1)[1] if "." in name[1:] else ""
        file_props = {
            "repo": repo,
            "path": path,
            "fileName": name,
            "extension": ext,
            "language": LANGUAGES.get(ext.lower(), ""),
            "size": len(data),
            "contentHash": hashlib.sha256(data).hexdigest(),
            "commit": commit,
            "branch": branch,
        }
        parts = chunks(data.decode("utf-8", errors="replace"))
        for index, (content, first, last) in enumerate(parts):
            props = dict(file_props)
            props["content"] = content
            props["chunkIndex"] = index
            props["chunkCount"] = len(parts)
            props["startLine"] = first
            props["endLine"] = last
            yield object_id(repo, path, index), props


def rfc3339_now():
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


# --- index ------------------------------------------------------------------------------------


def cmd_index(args):
    repo_dir = os.path.abspath(args.dir)
    client = connect(args.url)
    client.schema.delete_class(args.cls)
    errors, callback = batch_errors()
    client.batch.configure(batch_size=args.batch_size, num_workers=args.workers, dynamic=False, callback=callback)
    stats = {"files": 0, "bytes": 0}
    n = 0
    cpu = time.process_time()
    start = time.perf_counter()
    client.schema.create_class(
        {
            "class": args.cls,
            "vectorizer": "none",
            "properties": [{"name": name, "dataType": [t]} for name, t in PROPERTIES],
        }
    )
    indexed_at = rfc3339_now()
    with client.batch as batch:
        for oid, props in ingest_objects(repo_dir, stats):
            props["indexedAt"] = indexed_at
            batch.add_data_object(props, args.cls, uuid=oid)
            n += 1
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    client.batch.shutdown()

    if errors:
        fail(f"{len(errors)} of {n} objects failed; the first: {errors[0]}")
    on_server = count(client, args.cls)
    if on_server != n:
        fail(f"the server counts {on_server} objects in {args.cls} after writing {n}")
    mb = stats["bytes"] / 1e6
    report(
        "index",
        n,
        seconds,
        cpu,
        files=stats["files"],
        bytes=stats["bytes"],
        files_per_sec=stats["files"] / seconds if seconds > 0 else 0,
        mb_per_sec=mb / seconds if seconds > 0 else 0,
        workers=args.workers,
        batch_size=args.batch_size,
    )


def cmd_count(args):
    print(json.dumps({"class": args.cls, "count": count(connect(args.url), args.cls)}))


def cmd_scan(args):
    stats = {"files": 0, "bytes": 0}
    n = sum(1 for _ in ingest_objects(os.path.abspath(args.dir), stats))
    commit, branch = head(args.dir)
    print(json.dumps({"files": stats["files"], "bytes": stats["bytes"], "chunks": n, "commit": commit, "branch": branch}))


# --- check ------------------------------------------------------------------------------------


def cmd_check(args):
    repo_dir = os.path.abspath(args.dir)
    commit, _ = head(repo_dir)
    # Files changed since --since carry HEAD's commit; the others may still carry --since's.
    changed = None
    if args.since:
        since = git(repo_dir, "rev-parse", args.since + "^{commit}").strip()
        diff = git(repo_dir, "diff", "-z", "--name-only", since, commit)
        changed = {p for p in diff.split("\0") if p}
    want = {}
    stats = {"files": 0, "bytes": 0}
    for oid, props in ingest_objects(repo_dir, stats):
        commits = {commit} if changed is None or props["path"] in changed else {since, commit}
        want[oid] = (tuple(props[k] for k in COMPARED), commits)

    def compare(source, objects):
        failures = []
        seen = set()
        for o in objects:
            oid = o.get("id")
            where = f"{source}: object {oid}"
            w = want.get(oid)
            props = o.get("properties") or {}
            if w is None:
                failures.append(f"{where} ({props.get('path')} #{props.get('chunkIndex')}): not one an ingest of HEAD writes")
            else:
                if oid in seen:
                    failures.append(f"{where}: appears twice")
                seen.add(oid)
                for k, v in zip(COMPARED, w[0]):
                    if props.get(k) != v:
                        got = props.get(k)
                        if isinstance(v, str) and len(v) > 60:
                            got = f"{len(got)} characters" if isinstance(got, str) else got
                            v = f"{len(v)} characters"
                        failures.append(f"{where} ({w[0][1]} #{w[0][6]}): {k} is {got!r}, expected {v!r}")
                        break
                if props.get("commit") not in w[1]:
                    failures.append(f"{where}: commit is {props.get('commit')!r}, expected one of {sorted(w[1])}")
                if not props.get("indexedAt"):
                    failures.append(f"{where}: no indexedAt")
            if len(failures) >= 10:
                break
        if not failures and len(seen) != len(want):
            failures.append(f"{source}: {len(seen)} objects, expected {len(want)}")
        if failures:
            fail("check failed:\n  " + "\n  ".join(failures[:10]))
        print(f"{PROG}: {source}: {len(seen)} objects match HEAD ({stats['files']} files)", file=sys.stderr)

    if args.cls:
        if not args.url:
            fail("--class needs --url")
        client = connect(args.url)
        for cls in args.cls:
            compare(f"class {cls}", (o for page in cursor_pages(client, cls, args.page) for o in page))
    for path in args.streams:
        with open(path, encoding="utf-8") as f:
            lines = (json.loads(line) for line in f if line.strip())
            compare(path, (o for o in lines if "ely" not in o))
    print(json.dumps({"op": "check", "objects": len(want), "sources": len(args.cls) + len(args.streams), "ok": True}))


# --- results ----------------------------------------------------------------------------------

ACTIONS = ("upserted", "deleted", "unchanged", "skipped", "rejected")


def cmd_results(args):
    """File lines (op other than "changeset") summed up by action, with their chunks and
    removed chunks; changeset lines (one per repository at the end of every run) counted
    apart, by action (remembered, kept), with the commit of the last one. With --paths, also
    whether the file lines name exactly the paths of that list (one a line, as git diff
    --name-only prints them)."""
    sums = {"lines": 0, "chunks": 0, "removed": 0, "other": 0, "changesets": 0, "remembered": 0, "kept": 0}
    sums.update((a, 0) for a in ACTIONS)
    commit = ""
    paths = []
    with open(args.file, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                o = json.loads(line)
                op, action = o["op"], o["action"]
            except (ValueError, KeyError, TypeError):
                fail(f"{args.file}:{number}: not a result line: {line[:200].rstrip()}")
            if op == "changeset":
                sums["changesets"] += 1
                if action in ("remembered", "kept"):
                    sums[action] += 1
                commit = o.get("commit") or ""
                continue
            sums["lines"] += 1
            paths.append(o.get("path"))
            if action in ACTIONS:
                sums[action] += 1
            else:
                sums["other"] += 1
            if action == "upserted":
                sums["chunks"] += int(o.get("chunks") or 0)
            sums["removed"] += int(o.get("removed") or 0)
    sums["commit"] = commit
    if args.paths:
        with open(args.paths, encoding="utf-8") as f:
            want = [p for p in f.read().split("\n") if p]
        sums["paths_match"] = len(paths) == len(set(paths)) and set(paths) == set(want)
    print(json.dumps(sums))


def cmd_digest(args):
    """An ely stream on stdin (ely-backup's output): its object lines counted and hashed
    (sha256 of the lines, in order), and the trailer's count. Two digests of a store are equal
    when it holds the same objects (ids, properties with indexedAt, vectors)."""
    h = hashlib.sha256()
    objects = 0
    trailer = None
    for line in sys.stdin.buffer:
        if line.startswith(b'{"ely":'):
            if line.startswith(b'{"ely":"trailer"'):
                trailer = json.loads(line).get("objects")
            continue
        if line.strip():
            objects += 1
            h.update(line)
    print(json.dumps({"objects": objects, "trailer_objects": trailer, "sha256": h.hexdigest()}))


# --- gen and modify ---------------------------------------------------------------------------

GEN_VERSION = 1  # bump when generated repositories change, so that old ones are regenerated
STAMP = "ely-bench-stamp"  # in .git: what made the repository, and its commit
GIT_ENV = {
    "GIT_AUTHOR_NAME": "ely bench",
    "GIT_AUTHOR_EMAIL": "bench@ely.invalid",
    "GIT_COMMITTER_NAME": "ely bench",
    "GIT_COMMITTER_EMAIL": "bench@ely.invalid",
}

WORD_TEXT = (
    "account action adapter address agent alert alias alloc anchor answer archive array asset "
    "audit author backend balance banner batch bucket buffer bundle cache callback canvas "
    "capture cargo cell channel chart checksum client cluster codec column command commit "
    "config context cookie counter cursor customer daemon dataset decoder delta device digest "
    "domain driver editor element encoder engine entry event export factory feature field "
    "filter flag format frame gateway graph group handler header health history host image "
    "index inode input invoice issue item job journal kernel key label layer layout ledger "
    "limit listener loader locale lock logger mapper matrix member memory merge message meta "
    "metric mirror model module monitor mutex network node notice object offset option order "
    "output owner packet page parser patch payload peer pipeline planner plugin policy pool "
    "port prefix printer probe process profile program project prompt proxy query queue quota "
    "range reader record region registry render replica report request resolver resource "
    "result retry route router rule runner sample scanner schema scope screen search secret "
    "section segment sensor server service session shard signal snapshot socket source span "
    "stage state status storage stream string summary table task template tenant tensor "
    "thread ticket timer token topic trace tracker transfer tree trigger tuple update upload "
    "user value vector version view visitor volume wallet watcher widget window worker writer"
)
WORDS = WORD_TEXT.split()

# Per extension: how much of the repository (weights), the directories it lives in ({p}, {q}:
# words), its comment, and its line templates ({i} indent, {a} {b} {c} names, {f} a function,
# {t} a type, {n} a number, {w} words).
LANG_WEIGHTS = {
    "py": 18,
    "rs": 12,
    "go": 12,
    "ts": 12,
    "js": 8,
    "java": 8,
    "c": 6,
    "h": 4,
    "md": 8,
    "json": 4,
    "yaml": 5,
    "toml": 3,
}
DIRS = {
    "py": ["lib/{p}", "lib/{p}/{q}", "tests/{p}", "src/{p}", "scripts"],
    "rs": ["src", "src/{p}", "crates/{p}/src", "crates/{p}/src/{q}", "crates/{p}/tests"],
    "go": ["pkg/{p}", "pkg/{p}/{q}", "cmd/{p}", "internal/{p}"],
    "ts": ["web/src/{p}", "web/src/{p}/{q}", "web/src/components/{p}"],
    "js": ["web/scripts", "web/public/{p}", "tools/{p}"],
    "java": ["java/src/main/java/com/example/{p}", "java/src/test/java/com/example/{p}"],
    "c": ["native/src", "native/src/{p}"],
    "h": ["native/include", "native/include/{p}"],
    "md": ["docs", "docs/{p}", "docs/{p}/{q}", "pkg/{p}"],
    "json": ["config/{p}", "web/fixtures/{p}", "schemas"],
    "yaml": ["deploy/{p}", "config/{p}", "ci"],
    "toml": ["config/{p}", "crates/{p}"],
}
C_LIKE = [
    "{i}{f}({a}, {b});",
    "{i}{a} = {f}({b}, {n});",
    "{i}if ({a} > {n}) {{",
    "{i}}}",
    "{i}return {a};",
    "{i}// {w}",
    "{i}{a}->{b} = {c};",
    "{i}for (i = 0; i < {n}; i++) {{",
    "{i}while ({a} != NULL && {a}->{b} < {n}) {{",
]
TEMPLATES = {
    "py": [
        "{i}def {f}(self, {a}, {b}={n}):",
        "{i}return self.{a}.{f}({b}, {c})",
        "{i}{a} = {b}.{f}({c}, timeout={n})",
        "{i}if {a} is not None and len({b}) > {n}:",
        "{i}# {w}",
        "{i}for {a} in self.{b}.{f}():",
        '{i}raise ValueError(f"{w}: {{{a}!r}}")',
        "{i}self.{a} = {b}",
        "{i}{a}.append({f}({b}, {c}))",
        '{i}"""{w}."""',
        "{i}except {t}Error as {a}:",
        "{i}logger.debug(\"%s %s\", {a}, {b})",
        "from {a}.{b} import {t}",
        "class {t}({t}Base):",
        "{i}@property",
    ],
    "rs": [
        "{i}pub fn {f}(&self, {a}: &{t}, {b}: usize) -> Result<{t}> {{",
        "{i}let {a} = {b}.{f}({c})?;",
        "{i}let mut {a}: Vec<{t}> = Vec::with_capacity({n});",
        "{i}if {a}.len() > {n} {{",
        "{i}}}",
        "{i}// {w}",
        "{i}/// {w}.",
        "{i}match {a}.{f}() {{",
        "{i}Some({a}) => {b}.push({a}),",
        "{i}Err(e) => return Err(anyhow!(\"{w}: {{e}}\")),",
        "{i}Ok({t}::new({a}, {b}))",
        "use crate::{a}::{{{t}, {t}Error}};",
        "{i}#[derive(Debug, Clone, PartialEq)]",
        "{i}pub struct {t} {{",
        "{i}{a}: Option<{t}>,",
    ],
    "go": [
        "{i}func ({a} *{t}) {F}({b} string, {c} int) (*{t}, error) {{",
        "{i}{a}, err := {b}.{F}({c})",
        "{i}if err != nil {{",
        "{i}return nil, fmt.Errorf(\"{w}: %w\", err)",
        "{i}}}",
        "{i}// {w}",
        "{i}for _, {a} := range {b}.{F}() {{",
        "{i}{a} := make([]{t}, 0, {n})",
        "{i}{A} {t} `json:\"{a}\"`",
        "type {t} struct {{",
        "{i}defer {a}.Close()",
        "{i}{a}.{F}(ctx, {b}, {n})",
    ],
    "ts": [
        "{i}export function {F}({a}: {t}, {b}: number): {t} {{",
        "{i}const {a} = await {b}.{F}({c});",
        "{i}if ({a}.length > {n}) {{",
        "{i}}}",
        "{i}// {w}",
        "{i}return {{ ...{a}, {b}: {c} }};",
        "{i}private readonly {a}: Map<string, {t}> = new Map();",
        "import {{ {t}, {t}Options }} from './{a}';",
        "{i}{a}.{F}(({b}) => {b}.{c} !== undefined);",
        "export interface {t} {{",
        "{i}{a}?: {t};",
    ],
    "js": [
        "{i}function {F}({a}, {b}) {{",
        "{i}const {a} = {b}.{F}({c}, {n});",
        "{i}if ({a} && {a}.length > {n}) {{",
        "{i}}}",
        "{i}// {w}",
        "{i}return {a}.map(({b}) => {b}.{c});",
        "{i}module.exports.{F} = {F};",
        "const {a} = require('./{b}');",
        "{i}{a}.addEventListener('{b}', () => {F}({c}));",
    ],
    "java": [
        "{i}public {t} {F}({t} {a}, int {b}) {{",
        "{i}final {t} {a} = {b}.{F}({c});",
        "{i}if ({a} == null || {b}.size() > {n}) {{",
        "{i}}}",
        "{i}// {w}",
        "{i}return new {t}({a}, {b});",
        "{i}private final List<{t}> {a} = new ArrayList<>();",
        "import com.example.{a}.{t};",
        "{i}@Override",
        "{i}throw new IllegalStateException(\"{w}\");",
        "public class {t} implements {t}Service {{",
    ],
    "c": C_LIKE + ["#include \"{a}.h\"", "static int {f}(struct {a} *{b}, size_t {c})", "{i}{a} = malloc(sizeof(*{a}) * {n});"],
    "h": C_LIKE[5:6] + [
        "#ifndef {A}_H",
        "#define {A}_{B} {n}",
        "int {f}(struct {a} *{b}, size_t {c});",
        "{i}{t} *{a};",
        "struct {a} {{",
        "}};",
        "typedef struct {a} {t};",
    ],
    "md": [
        "## {W}",
        "{W} {w} {w}.",
        "- {W}: {w}",
        "{w} `{a}` {w} {w}.",
        "```",
        "    {a} = {f}({b})",
        "| {a} | {w} | {n} |",
    ],
    "json": [
        '{i}"{a}": "{w}",',
        '{i}"{a}": {n},',
        '{i}"{a}": [{n}, {n}, {n}],',
        '{i}"{a}": {{',
        "{i}}},",
        '{i}"{a}": true,',
    ],
    "yaml": ["{i}{a}: {w}", "{i}- name: {a}-{b}", "{i}{a}: {n}", "# {w}", "{i}{a}:", "{i}  - {a}.{b}.{c}"],
    "toml": ['[{a}.{b}]', '{a} = "{w}"', "{a} = {n}", "{a} = [{n}, {n}, {n}]", "# {w}", '{a} = {{ path = "{b}/{c}" }}'],
}
COMMENT = {"py": "#", "yaml": "#", "toml": "#", "md": None, "json": None}


def camel(words, upper):
    s = "".join(w.capitalize() for w in words)
    return s if upper else s[0].lower() + s[1:]


def pool(seed, ext, size=3000):
    """The lines (each ending in '\\n') files of this extension are made of: about 8% blank,
    the others 20-100 characters long, indented with tabs in Go and C, spaces elsewhere."""
    rng = random.Random(f"ely-bench-ingest/{GEN_VERSION}/{seed}/pool/{ext}")
    templates = TEMPLATES[ext]
    snake = ext in ("py", "rs", "c", "h", "yaml", "toml", "json", "md")
    indent = "\t" if ext in ("go", "c", "h") else "    "
    comment = COMMENT.get(ext, "//")

    def name():
        ws = rng.sample(WORDS, rng.randint(1, 2))
        return "_".join(ws) if snake else camel(ws, False)

    out = []
    while len(out) < size:
        if rng.random() < 0.08:
            out.append("\n")
            continue
        go = ext == "go"
        fields = {
            "i": indent * rng.randint(0, 3),
            "a": name(),
            "b": name(),
            "c": name(),
            "f": name(),
            "F": camel(rng.sample(WORDS, 2), go),
            "A": camel(rng.sample(WORDS, 2), True) if go else "_".join(rng.sample(WORDS, 2)).upper(),
            "B": rng.choice(WORDS).upper(),
            "t": camel(rng.sample(WORDS, rng.randint(1, 2)), True),
            "n": str(rng.choice([0, 1, 2, 8, 16, 64, 100, 256, 1024, rng.randint(3, 99999)])),
            "w": " ".join(rng.sample(WORDS, rng.randint(2, 9))),
        }
        fields["W"] = fields["w"].capitalize()
        line = rng.choice(templates).format(**fields).rstrip()
        if len(line) < 20 and comment:
            line = f"{line} {comment} {' '.join(rng.sample(WORDS, 3))}"
        line = line[:100].rstrip()
        if len(line) >= 20:
            out.append(line + "\n")
    return out


def file_size(rng):
    """A long-tailed size: 2% tiny (0-1000 bytes, the smallest empty), 88% 2-20 KiB and 10%
    20-200 KiB (both log-uniform); about 15 KB on average."""
    u = rng.random()
    if u < 0.02:
        size = rng.randrange(1000)
        return 0 if size < 40 else size
    if u < 0.90:
        return int(2048 * 10 ** rng.random())
    return int(20480 * 10 ** rng.random())


def text_of(rng, lines, ext, path, target):
    """A file's text: a first line naming it (so no two files are alike), lines from the pool
    up to about target bytes; most end in a newline, 4% do not."""
    if target == 0:
        return ""
    if ext == "json":
        first, last = ["{\n", f'  "id": "{path}",\n'], ["}\n"]
    elif ext == "md":
        first, last = [f"# {path}\n", "\n"], []
    else:
        first, last = [f"{COMMENT.get(ext, '//')} {path}: generated by bench_ingest.py\n"], []
    out = first
    size = sum(len(x) for x in first) + sum(len(x) for x in last)
    while size < target:
        for line in rng.choices(lines, k=max(1, (target - size) // 50 + 1)):
            out.append(line)
            size += len(line)
            if size >= target:
                break
    out += last
    text = "".join(out)
    if rng.random() < 0.04:
        text = text.rstrip("\n")
    return text


def layout(rng, files):
    """Each file's path, in a tree of directories (about 60 files in each) of the languages'
    directories, a few at the top."""
    exts = list(LANG_WEIGHTS)
    chosen = rng.choices(exts, weights=[LANG_WEIGHTS[e] for e in exts], k=files)
    dirs = {}
    for ext in exts:
        n = max(1, chosen.count(ext) // 60)
        found = set()
        for _ in range(n * 4):
            p, q = rng.sample(WORDS, 2)
            found.add(rng.choice(DIRS[ext]).format(p=p, q=q))
            if len(found) >= n:
                break
        dirs[ext] = sorted(found)
    paths = []
    for index, ext in enumerate(chosen):
        w1, w2 = rng.sample(WORDS, 2)
        if ext in ("py", "rs", "c", "h"):
            name = f"{w1}_{w2}_{index}.{ext}"
        elif ext == "go":
            name = f"{w1}_{w2}{index}.go"
        elif ext in ("ts", "js"):
            name = f"{camel([w1, w2], False)}{index}.{ext}"
        elif ext == "java":
            name = f"{camel([w1, w2], True)}{index}.java"
        else:
            name = f"{w1}-{w2}-{index}.{ext}"
        d = "" if rng.random() < 0.003 else rng.choice(dirs[ext])
        path = f"{d}/{name}" if d else name
        if excluded(path):
            fail(f"generated a path ely-ingest excludes: {path}")
        paths.append((path, ext))
    return paths


def commit_all(repo_dir, message, date, paths=None):
    env = dict(os.environ, GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date, **GIT_ENV)
    if paths is None:
        git(repo_dir, "add", "-A", env=env)
    else:
        subprocess.run(["git", "-C", repo_dir, "add", "--pathspec-from-file=-", "--pathspec-file-nul"], input="\0".join(paths).encode(), check=True, env=env)
    git(repo_dir, "commit", "-q", "--no-verify", "-m", message, env=env)
    return git(repo_dir, "rev-parse", "HEAD").strip()


def cmd_gen(args):
    repo_dir = os.path.abspath(args.dir)
    stamp_path = os.path.join(repo_dir, ".git", STAMP)
    want = {"version": GEN_VERSION, "files": args.files, "seed": args.seed}
    start = time.perf_counter()
    if os.path.exists(stamp_path):
        with open(stamp_path, encoding="utf-8") as f:
            stamp = json.load(f)
        if {k: stamp.get(k) for k in want} == want:
            there = ["git", "-C", repo_dir, "cat-file", "-e", stamp["commit"] + "^{commit}"]
            if subprocess.run(there, stderr=subprocess.DEVNULL, check=False).returncode == 0:
                git(repo_dir, "checkout", "-q", "-B", "main", stamp["commit"])
                git(repo_dir, "reset", "-q", "--hard", stamp["commit"])
                git(repo_dir, "clean", "-q", "-fdx")
                stamp["reused"] = True
                stamp["seconds"] = round(time.perf_counter() - start, 3)
                print(json.dumps(stamp))
                return
    if os.path.lexists(repo_dir):
        # Only a repository this command made (maybe interrupted) is removed.
        email = ["git", "-C", repo_dir, "config", "--local", "user.email"]
        p = subprocess.run(email, capture_output=True, check=False)
        mine = p.stdout.decode().strip() == GIT_ENV["GIT_AUTHOR_EMAIL"]
        mine = mine and os.path.isdir(os.path.join(repo_dir, ".git"))
        if os.path.isdir(repo_dir) and os.listdir(repo_dir) and not mine:
            fail(f"{repo_dir} exists and is not a repository this command made: not removing it")
        shutil.rmtree(repo_dir)
    os.makedirs(repo_dir)
    git(repo_dir, "init", "-q", "-b", "main")
    for key, value in (
        ("user.name", "ely bench"),
        ("user.email", "bench@ely.invalid"),
        ("commit.gpgsign", "false"),
        ("core.autocrlf", "false"),
        ("gc.auto", "0"),
    ):
        git(repo_dir, "config", key, value)

    rng = random.Random(f"ely-bench-ingest/{GEN_VERSION}/{args.seed}/files/{args.files}")
    pools = {ext: pool(args.seed, ext) for ext in LANG_WEIGHTS}
    total = 0
    made = set()
    for number, (path, ext) in enumerate(layout(rng, args.files), 1):
        d = os.path.dirname(path)
        if d and d not in made:
            os.makedirs(os.path.join(repo_dir, d), exist_ok=True)
            made.add(d)
        data = text_of(rng, pools[ext], ext, path, file_size(rng)).encode()
        with open(os.path.join(repo_dir, path), "wb") as f:
            f.write(data)
        total += len(data)
        if number % 20000 == 0:
            print(f"{PROG}: {number} files written", file=sys.stderr)
    commit = commit_all(repo_dir, f"{args.files} generated files, seed {args.seed}", "2024-01-01T00:00:00Z")
    stamp = dict(want, bytes=total, commit=commit, dirs=len(made))
    with open(stamp_path, "w", encoding="utf-8") as f:
        json.dump(stamp, f)
    stamp["reused"] = False
    stamp["seconds"] = round(time.perf_counter() - start, 3)
    print(json.dumps(stamp))


def cmd_modify(args):
    """Change --count files of HEAD, chosen and changed from --seed and HEAD's commit (the same
    HEAD gives the same change, and the same commit): each gets 1-5 lines replaced, and half of
    them 10-300 lines added, a quarter 10-100 lines removed."""
    repo_dir = os.path.abspath(args.dir)
    base = git(repo_dir, "rev-parse", "HEAD").strip()
    rng = random.Random(f"ely-bench-ingest/{GEN_VERSION}/{args.seed}/modify/{base}")
    paths = sorted(p for p in tracked(repo_dir) if not excluded(p))
    if args.count > len(paths):
        fail(f"cannot change {args.count} files of {len(paths)}")
    pools = {}
    chosen = sorted(rng.sample(paths, args.count))
    for path in chosen:
        ext = path.rsplit(".", 1)[-1]
        lines_pool = pools.get(ext) or pools.setdefault(ext, pool(args.seed, ext))
        full = os.path.join(repo_dir, path)
        with open(full, encoding="utf-8") as f:
            lines = f.read().split("\n")
        marker = f"{COMMENT.get(ext, '//') or ''} changed by bench_ingest.py modify ({base[:12]})".lstrip()
        for _ in range(rng.randint(1, 5)):
            k = rng.randrange(len(lines))
            lines[k] = rng.choice(lines_pool).rstrip("\n")
        if rng.random() < 0.25 and len(lines) > 120:
            k = rng.randrange(1, len(lines) - 110)
            del lines[k : k + rng.randint(10, 100)]
        if rng.random() < 0.5:
            k = rng.randrange(len(lines))
            lines[k:k] = [x.rstrip("\n") for x in rng.choices(lines_pool, k=rng.randint(10, 300))]
        lines.insert(min(1, len(lines)), marker)
        with open(full, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
    commit = commit_all(repo_dir, f"change {args.count} files", "2024-01-02T00:00:00Z", chosen)
    print(json.dumps({"changed": len(chosen), "base": base, "commit": commit}))


# --- main -------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("gen", help="write (or reuse) a generated git repository")
    g.add_argument("--dir", required=True, help="the repository (its name is the objects' repo)")
    g.add_argument("--files", type=int, default=10000)
    g.add_argument("--seed", type=int, default=1)
    g.set_defaults(run=cmd_gen)

    m = sub.add_parser("modify", help="change files and commit them")
    m.add_argument("--dir", required=True)
    m.add_argument("--count", type=int, default=100)
    m.add_argument("--seed", type=int, default=1)
    m.set_defaults(run=cmd_modify)

    s = sub.add_parser("scan", help="count what an ingest of HEAD writes")
    s.add_argument("--dir", required=True)
    s.set_defaults(run=cmd_scan)

    i = sub.add_parser("index", help="time the Python client indexing the repository")
    add_class_args(i)
    i.add_argument("--dir", required=True)
    i.add_argument("--workers", type=int, default=4)
    i.add_argument("--batch-size", type=int, default=100)
    i.set_defaults(run=cmd_index)

    c = sub.add_parser("count", help="count the objects of a class")
    add_class_args(c)
    c.set_defaults(run=cmd_count)

    k = sub.add_parser("check", help="compare classes and ely streams with an ingest of HEAD")
    k.add_argument("--dir", required=True)
    k.add_argument("--url")
    k.add_argument("--class", dest="cls", action="append", default=[], help="a class on --url (repeatable)")
    k.add_argument("--page", type=int, default=1000)
    k.add_argument("--since", help="files unchanged since this commit may carry its sha in commit")
    k.add_argument("streams", nargs="*", help="ely streams (ely-backup's output)")
    k.set_defaults(run=cmd_check)

    r = sub.add_parser("results", help="sum up ely-ingest's result lines by action")
    r.add_argument("file")
    r.add_argument("--paths", help="a list of paths the file lines must name exactly")
    r.set_defaults(run=cmd_results)

    d = sub.add_parser("digest", help="count and hash the objects of an ely stream on stdin")
    d.set_defaults(run=cmd_digest)

    add_drop(sub)

    args = p.parse_args()
    args.run(args)


if __name__ == "__main__":
    sys.exit(main())
