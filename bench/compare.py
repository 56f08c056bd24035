#!/usr/bin/env python3
"""End-to-end throughput of several gateway setups, measured in one run, alternating rounds.

    python3 bench/compare.py [--seconds 15] [--connections 64] [--rounds 2] [--pin] [--paced RATE] VARIANT...

Each variant is a gateway setup (below). For each round, in turn, each variant gets a fresh
store, then wrk posts signed BigCommerce order webhooks for SECONDS, and the run ends when
every accepted event has been delivered to the sink: its rate is delivered / (load + drain).
Rounds alternate so a noisy neighbour hurts every variant alike; the table gives each
variant's rounds, their mean, and the ratio to the first variant, and the gateway's own CPU
time per delivered event (start-up included, from /proc), which a busy neighbour moves less.

--pin      the core budget of bench/load.sh: the gateway on CPU 1, the load and the sink on CPU 0
--paced R  open loop instead of wrk: host/examples/paced_load posts R requests/s for SECONDS,
           whatever the answers do, and the table gives the acknowledgement's latency (p50,
           p99, p99.9 from each request's scheduled slot) and how long after the load ended the
           last delivery arrived (the backlog's drain); it posts the signed order webhook, so
           not for the kv variants

Variants:
  plain        the shipped path: verified → SQLite → order-to-erp (Rust) → HTTP sink
  bin:NAME     plain with the binary target/bench-bins/NAME/switchyard (a release build of
               another commit, e.g. NAME = its short hash), for before/after in one run; with
               order_to_erp.wasm beside it when that commit's plugin contract is older
  tls          TLS ingest (HTTPS, HTTP/1.1 keep-alive) and an HTTPS sink (ca_file)
  pg           plain on PostgreSQL ($PG_URL, default the test database), no sslmode: plain TCP
  pgbin:NAME   pg with the binary target/bench-bins/NAME/switchyard (before/after on PostgreSQL)
  pg-tls       the same with sslmode=require (TLS to the database)
  kv-sqlite    the `stateful` plugin doing a kv get and set per event (keys spread), SQLite,
               unsigned webhooks (the body varies per request)
  nokv-sqlite  the same plugin and load, touching no kv (the baseline for kv-sqlite)
  kv-pg, nokv-pg   the same two on PostgreSQL
  kv-pgbin:NAME    kv-pg with the binary target/bench-bins/NAME/switchyard
  ts, py       order-to-erp in TypeScript / Python, a fresh instance per event
  ts-reuse, py-reuse   the same with instances = "reuse"
  slow-route   plain, while another route gets 20 events/s whose plugin fetches an upstream
               that answers after 2 s (the plain route's rate is what is measured)
  nats, amqp, redis, mqtt   plain, publishing to the local broker instead of POSTing; the sink
               is examples/broker_sink, which counts what a consumer of the broker receives
  ingest-first plain with `ingest_first = true`: plugin calls and deliveries on threads
               niced below ingest's (the default runs every stage at one priority)
  fixed        plain with a fixed `concurrency = 256` on the destination (the default is
               adaptive): the baseline adaptive concurrency is measured against (issue 32)
  admin        plain with the admin listener on (127.0.0.1:18090, no token), nobody looking
  console      admin, with a headless Chromium holding the console's events page open: it
               follows /api/stream and refreshes the results as events flow (issue 17)

Needs: a release build (cargo build --release --bin switchyard --example bare_axum --example
paced_load --example broker_sink), wrk, openssl (for tls), chromium (for console), and for ts/py the components built by the tests
(target/plugins/polyglot). Prints a Markdown table for BENCHMARKS.md.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target/release")
PLUGINS = os.path.join(ROOT, "target/plugins/wasm32-wasip2/release")
POLYGLOT = os.path.join(ROOT, "target/plugins/polyglot")
SECRET = "bench-client-secret"
PORT, SINK, SIDE, UPSTREAM, ADMIN = 18080, 19000, 19001, 19100, 18090
# Broker destinations, publishing where examples/broker_sink reads.
BROKERS = {
    "nats": 'url = "nats://127.0.0.1:4222"\nsubject = "swybench.{scope}"',
    "amqp": 'url = "amqp://guest:guest@127.0.0.1:5672/%2f"\nexchange = "amq.topic"\nrouting_key = "swybench.{scope}"',
    "redis": 'url = "redis://127.0.0.1:6379/0"\nstream = "swybench:{scope}"\nmaxlen = 100000',
    "mqtt": 'url = "mqtt://127.0.0.1:1883"\ntopic = "swybench/{scope}"',
}


def body(n=250):
    return json.dumps({"scope": "store/order/created", "store_id": "1025646", "data": {"type": "order", "id": n},
                       "hash": "dd70c0976e06b67aaf671e73f49dcb79230ebf9d", "created_at": 1561479335,
                       "producer": "stores/abc123"}, separators=(",", ":"))


def signed(payload):
    msg_id, ts = "msg_bench", str(int(time.time()))
    mac = hmac.new(SECRET.encode(), f"{msg_id}.{ts}.{payload}".encode(), hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": "v1," + base64.b64encode(mac).decode()}


def wait_port(port, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} never opened")


def start(cmd, log, env=None):
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "w"), env=env)


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def count(port, https=False):
    scheme = "https" if https else "http"
    ctx = None
    if https:
        import ssl
        ctx = ssl._create_unverified_context()
    return int(urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}/count", context=ctx, timeout=5).read())


def cpu_seconds(pid):
    """User + system CPU time a live process has used (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def console(work):
    """A headless Chromium on the console's events page, once it follows the live stream."""
    browser = start(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", f"--user-data-dir={work}/chromium",
                     f"http://127.0.0.1:{ADMIN}/events"], os.path.join(work, "chromium.log"))
    deadline = time.time() + 30
    while time.time() < deadline:
        streams = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{ADMIN} )"],
                                 capture_output=True, text=True).stdout
        if streams.strip():
            # Connected; let the page finish starting (Chromium takes most of a core for about
            # two seconds after its first paint) so the load meets a console already open.
            time.sleep(3)
            return browser
        time.sleep(0.1)
    stop(browser)
    raise SystemExit("the console never connected to the admin listener")


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="switchyard-bench-")
        self.bin = os.path.join(REL, "switchyard")
        self.tls = None

    def certs(self):
        if self.tls:
            return self.tls
        d = self.work
        run = lambda *a: subprocess.run(a, check=True, capture_output=True)
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=bench CA", "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.crt",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign")
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
            "-keyout", f"{d}/leaf.key", "-out", f"{d}/leaf.csr")
        with open(f"{d}/ext", "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        run("openssl", "x509", "-req", "-in", f"{d}/leaf.csr", "-CA", f"{d}/ca.crt", "-CAkey", f"{d}/ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{d}/leaf.crt", "-extfile", f"{d}/ext")
        self.tls = (f"{d}/ca.crt", f"{d}/leaf.crt", f"{d}/leaf.key")
        return self.tls

    def config(self, name, plugin_path, plugin_extra="", storage=None, tls=False, extra="", signed=True, broker=None,
               admin="", destination_extra="", server_extra=""):
        name = name.replace(":", "-")
        storage = storage or f"sqlite://{self.work}/{name}.db"
        server_tls = ""
        dest = f"http://127.0.0.1:{SINK}/erp"
        dest_tls = ""
        if tls:
            ca, crt, key = self.certs()
            server_tls = f'tls = {{ cert = "{crt}", key = "{key}" }}'
            dest = f"https://localhost:{SINK}/erp"
            dest_tls = f'ca_file = "{ca}"'
        text = f"""
[server]
listen = "127.0.0.1:{PORT}"
admin = "{admin}"
{server_tls}
{server_extra}
[storage]
url = "{storage}"
[sources.bigcommerce]
provider = "bigcommerce"
secrets = [{f'"{SECRET}"' if signed else ""}]
dedup_window_secs = 0
[plugins.p]
path = "{plugin_path}"
config = {{ currency = "USD" }}
{plugin_extra}
[destinations.erp]
{BROKERS[broker] if broker else f'url = "{dest}"'}
{dest_tls}
{destination_extra}
[[routes]]
match = "store/order/*"
plugin = "p"
to = ["erp"]
{extra}
"""
        path = os.path.join(self.work, f"{name}.toml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def lua(self, name, mode=None):
        name = name.replace(":", "-")
        payload = body()
        path = os.path.join(self.work, f"{name}.lua")
        lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"']
        if mode:
            # Unsigned, a different key per request: kv get+set on 10,000 keys, not one hot row.
            template = json.dumps({"scope": "store/order/created", "mode": mode, "key": "KEY", "value": "v"})
            lines.append("counter = 0")
            lines.append("request = function() counter = counter + 1; return wrk.format(nil, nil, nil, "
                         + json.dumps(template).replace("KEY", '" .. "k" .. (counter % 10000) .. "') + ") end")
        else:
            lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in signed(payload).items()]
            lines.append(f"wrk.body = [[{payload}]]")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def variant(self, name):
        """(config, lua, https) for a variant, and the binary."""
        rust = os.path.join(PLUGINS, "order_to_erp.wasm")
        pg = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432/test")
        kv_plugin = os.path.join(PLUGINS, "stateful.wasm")
        if name == "plain":
            return self.config(name, rust), self.lua(name), False
        if name.startswith("bin:"):
            # An older build may need the plugin built at its own commit (an older WIT).
            own = os.path.join(ROOT, "target/bench-bins", name[4:], "order_to_erp.wasm")
            return self.config(name, own if os.path.exists(own) else rust), self.lua(name), False
        if name == "tls":
            return self.config(name, rust, tls=True), self.lua(name), True
        if name == "ingest-first":
            return self.config(name, rust, server_extra="ingest_first = true"), self.lua(name), False
        if name == "fixed":
            return self.config(name, rust, destination_extra="concurrency = 256"), self.lua(name), False
        if name in ("admin", "console"):
            return self.config(name, rust, admin=f"127.0.0.1:{ADMIN}"), self.lua(name), False
        if name in BROKERS:
            return self.config(name, rust, broker=name), self.lua(name), False
        if name == "pg":
            return self.config(name, rust, storage=self.pg_schema(pg, name)), self.lua(name), False
        if name.startswith("pgbin:"):
            own = os.path.join(ROOT, "target/bench-bins", name[6:], "order_to_erp.wasm")
            plugin = own if os.path.exists(own) else rust
            return self.config(name, plugin, storage=self.pg_schema(pg, "pgbin")), self.lua(name), False
        if name == "pg-tls":
            return self.config(name, rust, storage=self.pg_schema(pg, name) + "&sslmode=require"), self.lua(name), False
        if name in ("kv-sqlite", "nokv-sqlite", "kv-pg", "nokv-pg") or name.startswith("kv-pgbin:"):
            storage = self.pg_schema(pg, name.split(":")[0]) if "pg" in name else None
            mode = "set" if name.startswith("kv") else "echo"
            return self.config(name, kv_plugin, storage=storage, signed=False), self.lua(name, mode), False
        lang, _, reuse = name.partition("-")
        if lang in ("ts", "py"):
            path = os.path.join(POLYGLOT, f"order-to-erp-{lang}.wasm")
            extra = 'instances = "reuse"' if reuse else ""
            return self.config(name, path, plugin_extra=extra), self.lua(name), False
        if name == "slow-route":
            slow = f"""
[plugins.slow]
path = "{kv_plugin}"
allowed_hosts = ["http://127.0.0.1:{UPSTREAM}"]
[destinations.side]
url = "http://127.0.0.1:{SIDE}/side"
[[routes]]
match = "slow"
plugin = "slow"
to = ["side"]
[sources.slow]
provider = "generic"
scope_field = "scope"
dedup_window_secs = 0
"""
            return self.config(name, rust, extra=slow), self.lua(name), False
        raise SystemExit(f"unknown variant {name}")

    def pg_schema(self, base, name):
        schema = f"bench_{name.replace('-', '_')}_{os.getpid()}_{random.randrange(1 << 30)}"
        subprocess.run(["psql", "-q", base, "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"], check=True)
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}options=-csearch_path%3D{schema}"

    def pinned(self, cpu, cmd):
        return ["taskset", "-c", str(cpu)] + cmd if self.args.pin else cmd

    def load(self, lua, scheme):
        """The load of one round: (accepted, non-2xx, latency columns or None)."""
        url = f"{scheme}://127.0.0.1:{PORT}/hooks/bigcommerce"
        if self.args.paced:
            payload = body()
            path = os.path.join(self.work, "body.json")
            with open(path, "w") as f:
                f.write(payload)
            headers = [a for k, v in signed(payload).items() for a in ("--header", f"{k}: {v}")]
            out = subprocess.run(self.pinned(0, [os.path.join(REL, "examples/paced_load"), url, str(self.args.paced),
                                                 str(self.args.seconds), "--body", path, "--header",
                                                 "content-type: application/json"] + headers),
                                 capture_output=True, text=True).stdout
            fields = {l.split()[0]: l.split()[1:] for l in out.splitlines() if l.strip()}
            completed, non2xx = int(fields["completed"][0]), int(fields["non_2xx"][0])
            latency = {k: fields[k][0] for k in ("achieved_rate", "p50", "p99", "p99.9")}
            return completed, non2xx, latency
        out = subprocess.run(self.pinned(0, ["wrk", "-t1", f"-c{self.args.connections}", f"-d{self.args.seconds}s",
                                             "-s", lua, url]), capture_output=True, text=True).stdout
        accepted = int(float(next(l.split()[0] for l in out.splitlines() if "requests in" in l)))
        non2xx = next((int(l.split()[-1]) for l in out.splitlines() if "Non-2xx" in l), 0)
        return accepted, non2xx, None

    def one(self, name):
        config, lua, https = self.variant(name)
        binary = self.bin
        if name.startswith(("bin:", "pgbin:", "kv-pgbin:")):
            binary = os.path.join(ROOT, "target/bench-bins", name.split(":", 1)[1], "switchyard")
        env = dict(os.environ, SWITCHYARD_CACHE_DIR=os.path.join(ROOT, "target/plugin-tools/cache"))
        sink_cmd = [os.path.join(REL, "examples/bare_axum"), f"127.0.0.1:{SINK}"]
        if name in BROKERS:
            sink_cmd = [os.path.join(REL, "examples/broker_sink"), name, f"127.0.0.1:{SINK}"]
        if name == "tls":
            _, crt, key = self.certs()
            sink_cmd += ["--tls", crt, key]
        sink = start(self.pinned(0, sink_cmd), os.path.join(self.work, "sink.log"))
        upstream = paced = side = browser = None
        try:
            wait_port(SINK)
            if name == "slow-route":
                side = start([os.path.join(REL, "examples/bare_axum"), f"127.0.0.1:{SIDE}"], os.path.join(self.work, "side.log"))
                wait_port(SIDE)
                upstream = start([os.path.join(REL, "examples/bare_axum"), f"127.0.0.1:{UPSTREAM}", "--delay-ms", "2000"],
                                 os.path.join(self.work, "upstream.log"))
                wait_port(UPSTREAM)
            gw = start(self.pinned(1, [binary, "serve", "--no-watch", "--config", config]),
                       os.path.join(self.work, f"{name}.log"), env)
            try:
                wait_port(PORT, 120)
                scheme = "https" if https else "http"
                if name == "slow-route":
                    slow_body = os.path.join(self.work, "slow.json")
                    with open(slow_body, "w") as f:
                        json.dump({"scope": "slow", "mode": "fetch", "url": f"http://127.0.0.1:{UPSTREAM}/order"}, f)
                    paced = start([os.path.join(REL, "examples/paced_load"), f"http://127.0.0.1:{PORT}/hooks/slow", "20",
                                   str(self.args.seconds), "--body", slow_body, "--header", "content-type: application/json"],
                                  os.path.join(self.work, "paced.log"))
                if name == "console":
                    browser = console(self.work)
                before = count(SINK, https)
                started = time.time()
                accepted, non2xx, latency = self.load(lua, scheme)
                load_end = time.time()
                want = accepted - non2xx if latency is None else accepted
                deadline = time.time() + 600
                while count(SINK, https) - before < want and time.time() < deadline:
                    time.sleep(0.1)
                elapsed = time.time() - started
                delivered = count(SINK, https) - before
                cpu_us = cpu_seconds(gw.pid) * 1e6 / max(delivered, 1)
                if latency is not None:
                    latency["drain"] = f"{time.time() - load_end:.1f} s"
                return round(delivered / elapsed), want, non2xx, cpu_us, latency
            finally:
                stop(browser)
                stop(paced)
                stop(gw)
        finally:
            stop(upstream)
            stop(side)
            stop(sink)

    def run(self):
        results = {v: [] for v in self.args.variants}
        cpu = {v: [] for v in self.args.variants}
        latencies = []
        for r in range(self.args.rounds):
            order = self.args.variants if r % 2 == 0 else list(reversed(self.args.variants))
            for v in order:
                rate, accepted, non2xx, cpu_us, latency = self.one(v)
                print(f"round {r + 1}: {v}: {rate} events/s ({accepted} accepted, {non2xx} non-2xx), "
                      f"gateway CPU {cpu_us:.0f} µs/event", file=sys.stderr)
                results[v].append(rate)
                cpu[v].append(cpu_us)
                if latency is not None:
                    latencies.append((r + 1, v, non2xx, latency))
        if latencies:
            budget = "gateway on CPU 1, load and sink on CPU 0" if self.args.pin else "nothing pinned"
            print(f"\n| open loop at {self.args.paced:,} req/s for {self.args.seconds} s ({budget}) | round "
                  "| achieved req/s | p50 | p99 | p99.9 | non-2xx | last delivery after the load |")
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for r, v, non2xx, l in sorted(latencies, key=lambda x: (self.args.variants.index(x[1]), x[0])):
                print(f"| {v} | {r} | {l['achieved_rate']} | {l['p50']} | {l['p99']} | {l['p99.9']} | {non2xx} | {l['drain']} |")
        first = statistics.mean(results[self.args.variants[0]])
        first_cpu = statistics.mean(cpu[self.args.variants[0]])
        print(f"\n| variant ({self.args.connections} connections, {self.args.seconds} s, {self.args.rounds} rounds) "
              "| events/s by round | mean | ratio to first | gateway CPU µs/event by round | ratio to first |")
        print("| --- | --- | ---: | ---: | --- | ---: |")
        for v, rates in results.items():
            mean = statistics.mean(rates)
            used = statistics.mean(cpu[v])
            print(f"| {v} | {', '.join(f'{x:,}' for x in rates)} | {round(mean):,} | {mean / first:.2f} "
                  f"| {', '.join(f'{x:.0f}' for x in cpu[v])} | {used / first_cpu:.2f} |")
        shutil.rmtree(self.work, ignore_errors=True)


def main():
    if not shutil.which("wrk"):
        # As bench/load.sh does: Debian's wrk, with sudo when not root.
        sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
        subprocess.run(sudo + ["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--pin", action="store_true", help="gateway on CPU 1, load and sink on CPU 0")
    p.add_argument("--paced", type=int, metavar="RATE", help="open loop at RATE requests/s instead of wrk")
    p.add_argument("variants", nargs="+")
    Bench(p.parse_args()).run()


if __name__ == "__main__":
    main()
