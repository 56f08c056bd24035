#!/usr/bin/env python3
"""File-level import graph of the `switchyard` crate (host/src): cycles and upward arrows.

Reads sources only (no cargo). From host/src/lib.rs and main.rs it follows `mod x;` to find
the crate's files, each mapped to its module (queue/ops/kv.rs -> crate::queue::ops::kv, a
mod.rs -> its directory's). Skipped: modules declared under `#[cfg(test)]`, `tests/` dirs,
`*_tests.rs`, `test_support.rs`, inline `#[cfg(test)] mod NAME {...}` blocks. Comments, doc
comments, string and char literals (raw too) are blanked first.

A reference is a `use` tree (groups, `as`, `self`) or a path in code starting with `crate`,
`super`, `self`, `switchyard` (main.rs), a child module, or a name the file's `use`s bind;
it goes to the deepest module FILE that exists (crate::queue::Store -> queue/mod.rs).
`mod x;` is no reference; external crates are ignored; re-exports are not followed.

Prints: file/edge counts; each strongly connected component of >1 file with its edges and
the path texts behind them; with tools/layers.txt (a layer per line, lowest first, units
space-separated: top-level modules like `config`, or dotted submodules like
`sources.providers`, which then are units of their own), each edge up to a higher layer,
and units not placed. Exit 1 on any cycle or upward edge.
  --allow A B   files A and B (e.g. plugin/host.rs plugin/kv.rs) may share a cycle; a cycle
                passes when its allowed pairs connect all its files
  --dot FILE    Graphviz of the unit graph (edge labels: file edges; red: upward)
  --strict      also count circles through a folder's mod.rs and the files below it (by
                default a mod.rs is its folder's facade: it declares and re-exports its
                children, and a child using an item the facade defines is the module
                talking to itself, not a circle between floors)

Limits: a heuristic reader, not a parser. Inline (non-test) modules fold into their file
(`super` in them is read as the file's); `#[path]` is not followed; glob imports bind no
names; paths made by macros are invisible; a `use` inside a block counts for the whole file.
"""
import argparse, os, re, signal, sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "host", "src")
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"

def strip(text):
    """Blank comments and string/char literals, keeping newlines."""
    out, i, n = [], 0, len(text)
    while i < n:
        c, nxt = text[i], text[i + 1:i + 2]
        if c == "/" and nxt == "/":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c == "/" and nxt == "*":  # nested block comments
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j): depth, j = depth + 1, j + 2
                elif text.startswith("*/", j): depth, j = depth - 1, j + 2
                else: j += 1
            out.append("\n" * text.count("\n", i, j)); i = j
        elif (m := re.match(r'b?r(#*)"', text[i:i + 300])) and (i == 0 or not re.match(r"\w", text[i - 1])):
            end = text.find('"' + m.group(1), i + m.end())
            j = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""' + "\n" * text.count("\n", i, j)); i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"': j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j)); i = j + 1
        elif c == "'" and (m := re.match(r"'(\\(u\{[0-9a-fA-F]+\}|x..|.)|[^\\'])'", text[i:i + 12])):
            out.append("' '"); i += m.end()
        else:
            out.append(c); i += 1
    return "".join(out)

def strip_test_blocks(code):
    """Blank `#[cfg(test)] mod NAME { ... }` and `#[cfg(test)] mod NAME;` (keeping newlines)."""
    while m := re.search(r"#\[cfg\(test\)\]\s*(#\[[^\]]*\]\s*)*(pub(\([^)]*\))?\s+)?mod\s+(\w+)\s*([{;])", code):
        end = m.end()
        depth = 1 if m.group(5) == "{" else 0
        while depth and end < len(code):
            depth += {"{": 1, "}": -1}.get(code[end], 0); end += 1
        code = code[:m.start()] + "\n" * code.count("\n", m.start(), end) + code[end:]
    return code

def expand(tree, prefix=()):
    """`a::{b::{C, D}, e as f, self}` -> [(('a','b','C'), 'C'), ..., (('a',), 'a')]."""
    toks = re.findall(IDENT + r"|::|[{},*]", tree)
    pos = 0
    def group(pre):
        nonlocal pos
        res = []
        while pos < len(toks) and toks[pos] != "}":
            res += one(pre)
            if pos < len(toks) and toks[pos] == ",": pos += 1
        pos += 1
        return res
    def one(pre):
        nonlocal pos
        segs = list(pre)
        while pos < len(toks):
            t = toks[pos]; pos += 1
            if t == "{": return group(segs)
            if t == "*": return [(tuple(segs), None)]
            if t == "as":
                alias = toks[pos]; pos += 1
                return [(tuple(segs), alias)]
            if t == "::": continue
            if t in ",}": pos -= 1; break
            if t == "self" and segs: continue  # `{self, ..}` names the prefix itself
            segs.append(t)
        return [(tuple(segs), segs[-1] if segs else None)]
    return one(prefix)

def discover():
    """Module path tuple -> (relative file, stripped code without tests)."""
    files, todo = {}, [(("crate",), "lib.rs"), (("main",), "main.rs")]
    while todo:
        mod, rel = todo.pop()
        with open(os.path.join(SRC, rel), encoding="utf-8") as f:
            code = strip_test_blocks(strip(f.read()))
        files[mod] = (rel, code)
        base = os.path.dirname(rel) if os.path.basename(rel) in ("mod.rs", "lib.rs", "main.rs") \
            else rel[:-3]
        for name in re.findall(r"(?m)^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code):
            for cand in (os.path.join(base, name + ".rs"), os.path.join(base, name, "mod.rs")):
                skip = "tests" in cand.split(os.sep) \
                    or cand.endswith("_tests.rs") or os.path.basename(cand) == "test_support.rs"
                if not skip and os.path.exists(os.path.join(SRC, cand)):
                    todo.append((mod + (name,), cand)); break
    return files

def build():
    """discover()'s files; edges (src, dst file) -> {path texts}; crate::x::.. with x unknown."""
    files = discover()
    edges, unresolved = defaultdict(set), set()
    for mod, (rel, code) in files.items():
        children = {m[len(mod)] for m in files if len(m) == len(mod) + 1 and m[:len(mod)] == mod}
        names, external = {}, set()  # names bound by this file's `use`s, inside / outside
        def absolute(segs):
            head = segs[0] if segs else ""
            if head in ("crate", "switchyard"): return ("crate",) + segs[1:]
            if head == "self": return mod + segs[1:]
            if head == "super":
                base = mod
                while segs and segs[0] == "super": base, segs = base[:-1], segs[1:]
                return base + segs
            if head in children: return mod + segs
            if head in names and (head not in external or names[head] in files):
                return names[head] + segs[1:]  # `use tokio::sync::watch` + fn `watch`: tokio's
            return None
        code = re.sub(r"pub\s*\(\s*in\s+[^)]*\)", "pub", code)
        uses = list(re.finditer(r"(?<![\w:])use\s+(?!<)([^;]*);", code))
        for _ in range(2):  # second pass: uses that start at a name bound by another use
            refs = []; external.clear()
            for m in uses:
                for segs, alias in expand(m.group(1)):
                    p = absolute(segs)
                    if p is None:
                        if alias: external.add(alias)
                        continue
                    refs.append((p, "use " + "::".join(segs)))
                    if alias: names[alias] = p
        code_only = re.sub(r"(?<![\w:])use\s+(?!<)[^;]*;", "", code)
        for m in re.finditer(rf"(?<![\w:]){IDENT}(?:\s*::\s*{IDENT})+", code_only):
            segs = tuple(re.split(r"\s*::\s*", m.group(0)))
            if (p := absolute(segs)) is not None: refs.append((p, m.group(0)))
        for p, text in refs:  # to the deepest module that is a file
            if p[:1] == ("crate",) and len(p) > 2 and p[:2] not in files: unresolved.add((rel, text))
            while p and p not in files: p = p[:-1]
            if p and p != mod: edges[(rel, files[p][0])].add(text)
    return files, edges, sorted(unresolved)

def sccs(nodes, adj):
    """Tarjan: strongly connected components of more than one node, each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []
    def visit(v):
        index[v] = low[v] = len(index); stack.append(v); on.add(v)
        for w in adj[v]:
            if w not in index: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index: visit(v)
    return [c for c in out if len(c) > 1]

def connected(comp, allowed):
    """Do the allowed pairs join all files of this cycle?"""
    seen, todo = {comp[0]}, [comp[0]]
    while todo:
        v = todo.pop()
        for w in comp:
            if w not in seen and frozenset((v, w)) in allowed: seen.add(w); todo.append(w)
    return len(seen) == len(comp)

def shown(texts, k):
    """The first k path texts behind an edge, `use`s first."""
    t = sorted(texts, key=lambda x: (not x.startswith("use "), x))
    return ", ".join(t[:k]) + (" ..." if len(t) > k else "")

def read_layers(path):
    """Unit name -> layer index (0 = lowest); {} without the file."""
    if not os.path.exists(path): return {}
    with open(path) as f:
        rows = [r for r in (line.split("#")[0].split() for line in f) if r]
    return {u: i for i, row in enumerate(rows) for u in row}

def unit_of(mod, layer):
    """The most specific listed unit (`sources.providers`), else the top-level module."""
    parts = mod[1:] if mod[0] == "crate" else mod
    cands = [".".join(parts[:k]) for k in range(len(parts), 0, -1)]
    return next((c for c in cands if c in layer), cands[-1] if cands else "lib")

def write_dot(path, units, ucount, layer):
    with open(path, "w") as f:
        f.write("digraph layers {\n  node [shape=box];\n")
        for i in sorted({layer.get(u, -1) for u in units}):
            us = sorted(u for u in units if layer.get(u, -1) == i)
            f.write("  { rank=same; %s }\n" % " ".join(
                '"%s"%s;' % (u, " [style=dashed]" if i < 0 else "") for u in us))
        for (a, b), n in sorted(ucount.items()):
            up = a in layer and b in layer and layer[b] > layer[a]
            f.write('  "%s" -> "%s" [label="%d"%s];\n' % (a, b, n, " color=red constraint=false" if up else ""))
        f.write("}\n")

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--allow", nargs=2, action="append", default=[], metavar=("A", "B"))
    ap.add_argument("--dot", metavar="FILE")
    ap.add_argument("--layers", default=os.path.join(ROOT, "tools", "layers.txt"))
    ap.add_argument("--strict", action="store_true")
    args = ap.parse_args()
    files, edges, unresolved = build()
    layer = read_layers(args.layers)
    unit = {rel: unit_of(mod, layer) for mod, (rel, _) in files.items()}
    def facade(a, b):  # a folder's mod.rs and a file below that folder
        return any(x.endswith("mod.rs") and y.startswith(os.path.dirname(x) + "/") for x, y in ((a, b), (b, a)))
    adj = defaultdict(list)
    for a, b in edges:
        if args.strict or not facade(a, b): adj[a].append(b)
    print(f"{len(unit)} files, {len(edges)} edges (file -> file)")
    disk = {os.path.relpath(os.path.join(d, f), SRC) for d, _, fs in os.walk(SRC) for f in fs}
    stray = sorted(f for f in disk - set(unit) if f.endswith(".rs") and "test" not in f)
    for rel, text in unresolved: print(f"unknown top-level module (edge to lib.rs): {rel}: {text}")
    if stray: print(f"not reached by a non-test `mod` (ignored): {' '.join(stray)}")
    for path in {p for pair in args.allow for p in pair} - set(unit):
        print(f"warning: --allow {path}: no such file in the crate")

    allowed = {frozenset(p) for p in args.allow}
    comps = sccs(unit, adj)
    bad = [c for c in comps if not connected(c, allowed)]
    print(f"\n{len(comps)} circle(s) across files ({len(comps) - len(bad)} allowed)")
    for k, comp in enumerate(comps, 1):
        print(f"\n  #{k}: {len(comp)} files{'' if comp in bad else '  [allowed]'}: {' '.join(comp)}")
        for (a, b), texts in sorted(edges.items()):
            if a in comp and b in comp and b in adj[a]: print(f"    {a} -> {b}   ({shown(texts, 3)})")

    up = [(a, b, t) for (a, b), t in sorted(edges.items())
          if unit[a] in layer and unit[b] in layer and layer[unit[b]] > layer[unit[a]]]
    print(f"\n{len(up)} upward edge(s) against {os.path.relpath(args.layers, ROOT)}")
    for a, b, t in up:
        print(f"  {a} [{unit[a]} L{layer[unit[a]]}] -> {b} [{unit[b]} L{layer[unit[b]]}]   ({shown(t, 2)})")
    unplaced = sorted({u for u in unit.values() if u not in layer})
    if unplaced: print(f"\nunplaced units: {' '.join(unplaced)}")

    ucount = defaultdict(int)
    for a, b in edges:
        if unit[a] != unit[b]: ucount[(unit[a], unit[b])] += 1
    uadj = defaultdict(list)
    for a, b in ucount: uadj[a].append(b)
    for c in sccs(set(unit.values()), uadj):
        print(f"\nunit-level circle (information only): {' '.join(c)}")
    if args.dot: write_dot(args.dot, set(unit.values()), ucount, layer)
    return 1 if bad or up else 0

if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`
    sys.exit(main())
