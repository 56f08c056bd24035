#!/usr/bin/env python3
"""Checks every relative link in README.md, BENCHMARKS.md and docs/**/*.md: the file exists,
and a `#fragment` names a heading of it as mdBook makes heading ids (lower-case, spaces to
`-`, other punctuation dropped, repeats numbered). Follows mdBook's `{{#include}}`. Exits 1
on a broken link. Run from anywhere: `python3 tools/check_links.py`."""
import re, os, glob, sys
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
files = ['README.md', 'BENCHMARKS.md'] + sorted(glob.glob('docs/**/*.md', recursive=True))

def expand(path, depth=0):
    text = open(path).read()
    def inc(m):
        target = os.path.normpath(os.path.join(os.path.dirname(path), m.group(1).strip()))
        return expand(target, depth + 1) if depth < 5 else ''
    return re.sub(r'\{\{#include\s+([^}]+)\}\}', inc, text)

def strip_code(text):
    out = []; infence = False
    for line in text.split('\n'):
        if re.match(r'^\s*```', line):
            infence = not infence; out.append(''); continue
        out.append('' if infence else line)
    return out

def normalize_id(s):
    out = []
    for ch in s:
        if ch.isalnum() or ch in '_-':
            out.append(ch.lower())
        elif ch.isspace():
            out.append('-')
    return ''.join(out)

def heading_ids(path):
    ids = {}; result = set()
    for line in strip_code(expand(path)):
        m = re.match(r'^(#{1,6})\s+(.*?)\s*#*\s*$', line)
        if not m: continue
        text = m.group(2)
        text = re.sub(r'`([^`]*)`', r'\1', text)
        text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)
        text = re.sub(r'[*_]{1,2}([^*_]+)[*_]{1,2}', r'\1', text)
        base = normalize_id(text)
        hid = base
        if base in ids:
            ids[base] += 1; hid = f'{base}-{ids[base]}'
        else:
            ids[base] = 0
        result.add(hid)
    return result

bad = 0; count = 0
link = re.compile(r'(?<!\!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+"[^"]*")?\)')
for f in files:
    lines = strip_code(open(f).read())
    for no, line in enumerate(lines, 1):
        line = re.sub(r'`[^`]*`', '', line)
        for m in link.finditer(line):
            target = m.group(1)
            if re.match(r'^[a-z]+:', target): continue
            count += 1
            path, _, frag = target.partition('#')
            dest = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
            if not os.path.exists(dest):
                print(f'{f}:{no}: missing file {target}'); bad += 1; continue
            if frag:
                if os.path.isdir(dest) or not dest.endswith('.md'):
                    print(f'{f}:{no}: fragment on non-md {target}'); bad += 1; continue
                if frag not in heading_ids(dest):
                    print(f'{f}:{no}: no heading #{frag} in {dest}'); bad += 1
print(f'{count} relative links checked, {bad} bad')
sys.exit(1 if bad else 0)
