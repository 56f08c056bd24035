#!/usr/bin/env python3
"""Buckets `perf script` samples by the stage of the gateway their call stack is in.

    perf script --no-inline -i FILE | python3 bench/stages.py [--why]

Each sample goes to the first stage below that names any frame of its stack, so specific
stages (a SQLite statement, the plugin call) win over the generic ones that sit under
everything (hyper's server loop, tokio's scheduler). Prints a Markdown table: each stage's
share of samples, (with --why) the frames that decided it, and the functions that spend the most time themselves (leaf frames).
"""

import collections
import re
import sys

# (stage, pattern on a frame's symbol), most specific first.
STAGES = [
    ("SQLite statements, commit and fsync (writer, lease/finish)", r"sqlite3|rusqlite|libsqlite|queue::sqlite"),
    ("plugin: instance creation", r"instantiate|InstancePre|Linker.*instantiate|component::instance"),
    ("plugin: the call (wasm, wasmtime, WASI)", r"wasmtime|cranelift|wasm\[|wasi|\[jit\]|jitted"),
    ("verify (HMAC-SHA256, base64)", r"hmac|sha2::|sha256|base64|signature::|standard_webhooks"),
    ("JSON (scope extraction, bodies)", r"serde_json|serde::de|simd_json"),
    ("delivery's HTTP client", r"reqwest|hyper_util::client|hyper::client|delivery::"),
    ("logging and tracing", r"tracing|tracing_subscriber"),
    ("metrics", r"metrics::|prometheus"),
    ("writer handoff (channels, wakeups)", r"queue::writer|flume|crossbeam|tokio::sync::(mpsc|oneshot)"),
    ("HTTP server (parse, route, respond)", r"hyper::proto|hyper::server|axum|httparse|tower::|http_server|ingest::"),
    ("kernel: network", r"tcp_|sock_|inet_|__sys_(send|recv)|ip_|skb|netif|loopback"),
    ("tokio scheduling", r"tokio::runtime|tokio::io|mio::|epoll"),
    ("allocation", r"^mi_|mimalloc|_mi_|malloc|free$"),
    ("kernel: other", r"\[kernel|entry_SYSCALL|syscall|schedule|futex"),
]
COMPILED = [(name, re.compile(pattern)) for name, pattern in STAGES]
# Wrappers that sit on the stack of everything they wrap and do no work of their own.
WRAPPERS = re.compile(r"tracing::instrument::Instrumented|core::ops::function|std::panic|catch_unwind")
FRAME = re.compile(r"^\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")


def samples(lines):
    stack = []
    for line in lines:
        if not line.strip():
            if stack:
                yield stack
            stack = []
            continue
        m = FRAME.match(line)
        if m:
            symbol, dso = m.group(1), m.group(2)
            symbol = re.sub(r"\+0x[0-9a-f]+$", "", symbol)
            if symbol == "[unknown]":
                symbol = f"[{dso.rsplit('/', 1)[-1]}]"
            stack.append(symbol)
    if stack:
        yield stack


def main():
    why = collections.Counter()  # with --why: the frame that put each sample in its stage
    by_stage, leaves = collections.Counter(), collections.Counter()
    total = 0
    for stack in samples(sys.stdin):
        total += 1
        leaves[stack[0][:90]] += 1
        frames = [f for f in stack if not WRAPPERS.search(f)]
        stage, frame = next(
            ((name, f) for name, rx in COMPILED for f in frames if rx.search(f)), ("other", frames[0] if frames else "")
        )
        why[(stage, frame[:120])] += 1
        by_stage[stage] += 1
    if not total:
        print("no samples")
        return
    print(f"| stage | share of {total} samples |")
    print("| --- | ---: |")
    for name, _ in STAGES + [("other", None)]:
        if by_stage[name]:
            print(f"| {name} | {100 * by_stage[name] / total:.1f}% |")
    if "--why" in sys.argv:
        print()
        print("| stage | deciding frame | share |")
        print("| --- | --- | ---: |")
        for (stage, frame), count in why.most_common(25):
            print(f"| {stage} | `{frame.replace('|', '/')}` | {100 * count / total:.1f}% |")
    print()
    print("| function (self time) | share |")
    print("| --- | ---: |")
    for symbol, count in leaves.most_common(15):
        print(f"| `{symbol.replace('|', '/')}` | {100 * count / total:.1f}% |")


if __name__ == "__main__":
    main()
