#!/usr/bin/env python3
"""Several gateways on one PostgreSQL: end-to-end rate with 1, 2 and 3 gateways, what each event
costs the database, and what lease renewal costs with 1,000 events in flight.

    python3 bench/cluster.py [--seconds 15] [--connections 64] [--rounds 2]

For each round and each gateway count N (alternating order), a fresh schema; N release
gateways (`serve`, same config, ports 18080+i) deliver to one sink (examples/bare_axum); N wrk
processes post signed BigCommerce order webhooks, CONNECTIONS/N connections each, one per
gateway (the test's own balancing); the rate is delivered / (load + drain). The database's own
counters (pg_stat_database) give the commits and row writes per event, and `ps` the CPU time
its processes used per event (when the server runs on this machine).

Then the renewal measurement: one gateway with `workers = 1000` whose plugin fetches an
upstream that answers after 6 s, sent 1,000 events, so 1,000 events are leased at once; the
renewal round's UPDATE is timed on those rows with EXPLAIN ANALYZE, and the gateway's own
counters give rounds and rows renewed.

Needs a release build (cargo build --release --bin switchyard --example bare_axum --example
paced_load), wrk, psql, and PostgreSQL at $PG_URL (default the test database).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (the shared helpers: signed bodies, processes, the sink's count)

PG = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432/test")
BASE_PORT, ADMIN_PORT, SINK, UPSTREAM = 18080, 19090, 19000, 19100


def psql(sql, url=PG):
    return subprocess.run(["psql", "-qAt", url, "-c", sql], check=True, capture_output=True, text=True).stdout.strip()


def db_counters():
    row = psql("SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
               "WHERE datname = current_database()")
    commits, rows = (int(x) for x in row.split("|"))
    return commits, rows


def postgres_cpu_seconds():
    """CPU time used so far by the local server's processes (PostgreSQL on this machine only)."""
    out = subprocess.run(["ps", "-C", "postgres", "-o", "times="], capture_output=True, text=True).stdout
    return sum(int(x) for x in out.split())


def metric(port, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


class Cluster:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="switchyard-cluster-")
        self.bin = os.path.join(compare.REL, "switchyard")
        self.helper = compare.Bench(args)
        self.helper.work = self.work

    def config(self, i, storage, extra=""):
        rust = os.path.join(compare.PLUGINS, "order_to_erp.wasm")
        text = f"""
[server]
listen = "127.0.0.1:{BASE_PORT + i}"
admin = "127.0.0.1:{ADMIN_PORT + i}"
{extra}
[storage]
url = "{storage}"
[sources.bigcommerce]
provider = "bigcommerce"
secrets = ["{compare.SECRET}"]
dedup_window_secs = 0
[plugins.p]
path = "{rust}"
config = {{ currency = "USD" }}
[destinations.erp]
url = "http://127.0.0.1:{SINK}/erp"
[[routes]]
match = "store/order/*"
plugin = "p"
to = ["erp"]
"""
        path = os.path.join(self.work, f"node{i}.toml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def gateways(self, n, storage, extra=""):
        env = dict(os.environ, SWITCHYARD_CACHE_DIR=os.path.join(compare.ROOT, "target/plugin-tools/cache"))
        procs = []
        for i in range(n):
            config = self.config(i, storage, extra)
            procs.append(compare.start([self.bin, "serve", "--no-watch", "--config", config],
                                       os.path.join(self.work, f"node{i}.log"), env))
            compare.wait_port(BASE_PORT + i, 120)
        return procs

    def one(self, n):
        storage = self.helper.pg_schema(PG, f"cluster{n}")
        lua = self.helper.lua(f"cluster{n}")
        sink = compare.start([os.path.join(compare.REL, "examples/bare_axum"), f"127.0.0.1:{SINK}"],
                             os.path.join(self.work, "sink.log"))
        procs = []
        try:
            compare.wait_port(SINK)
            procs = self.gateways(n, storage)
            before = compare.count(SINK)
            commits0, rows0 = db_counters()
            cpu0 = postgres_cpu_seconds()
            started = time.time()
            per = max(1, self.args.connections // n)
            wrks = [subprocess.Popen(["wrk", "-t1", f"-c{per}", f"-d{self.args.seconds}s", "-s", lua,
                                      f"http://127.0.0.1:{BASE_PORT + i}/hooks/bigcommerce"],
                                     stdout=subprocess.PIPE, text=True) for i in range(n)]
            want = 0
            for w in wrks:
                out = w.communicate()[0]
                accepted = int(float(next(l.split()[0] for l in out.splitlines() if "requests in" in l)))
                non2xx = next((int(l.split()[-1]) for l in out.splitlines() if "Non-2xx" in l), 0)
                want += accepted - non2xx
            deadline = time.time() + 600
            while compare.count(SINK) - before < want and time.time() < deadline:
                time.sleep(0.1)
            elapsed = time.time() - started
            delivered = compare.count(SINK) - before
            commits1, rows1 = db_counters()
            cpu1 = postgres_cpu_seconds()
            renewals = sum(metric(ADMIN_PORT + i, "switchyard_lease_renewals_total") for i in range(n))
            return {
                "rate": round(delivered / elapsed),
                "delivered": delivered,
                "commits_per_s": round((commits1 - commits0) / elapsed),
                "commits_per_event": (commits1 - commits0) / max(delivered, 1),
                "rows_per_event": (rows1 - rows0) / max(delivered, 1),
                "pg_cpu_us_per_event": (cpu1 - cpu0) * 1e6 / max(delivered, 1),
                "renewal_statements_per_s": renewals * 3 / elapsed,
            }
        finally:
            for p in procs:
                compare.stop(p)
            compare.stop(sink)

    def renewal(self):
        """One gateway holding ~1,000 events leased: what one renewal round costs the database."""
        storage = self.helper.pg_schema(PG, "renewal")
        schema_url = storage
        kv_plugin = os.path.join(compare.PLUGINS, "stateful.wasm")
        slow = f"""workers = 1000
"""
        upstream = compare.start([os.path.join(compare.REL, "examples/bare_axum"), f"127.0.0.1:{UPSTREAM}",
                                  "--delay-ms", "6000"], os.path.join(self.work, "upstream.log"))
        sink = compare.start([os.path.join(compare.REL, "examples/bare_axum"), f"127.0.0.1:{SINK}"],
                             os.path.join(self.work, "sink.log"))
        config = self.config(0, storage, slow)
        with open(config, "a") as f:
            f.write(f"""
[plugins.slow]
path = "{kv_plugin}"
allowed_hosts = ["http://127.0.0.1:{UPSTREAM}"]
[sources.slow]
provider = "generic"
scope_field = "scope"
dedup_window_secs = 0
[[routes]]
match = "slow"
plugin = "slow"
to = ["erp"]
""")
        env = dict(os.environ, SWITCHYARD_CACHE_DIR=os.path.join(compare.ROOT, "target/plugin-tools/cache"))
        gw = None
        paced = None
        try:
            compare.wait_port(UPSTREAM)
            compare.wait_port(SINK)
            gw = compare.start([self.bin, "serve", "--no-watch", "--config", config], os.path.join(self.work, "renewal.log"), env)
            compare.wait_port(BASE_PORT, 120)
            body = os.path.join(self.work, "slow.json")
            with open(body, "w") as f:
                f.write('{"scope":"slow","mode":"fetch","url":"http://127.0.0.1:%d/order"}' % UPSTREAM)
            paced = subprocess.run([os.path.join(compare.REL, "examples/paced_load"), f"http://127.0.0.1:{BASE_PORT}/hooks/slow",
                                    "500", "2", "--body", body, "--header", "content-type: application/json"],
                                   capture_output=True, text=True)
            time.sleep(1)
            node = psql("SELECT lease_owner FROM events WHERE lease_owner IS NOT NULL LIMIT 1", schema_url)
            held = int(psql(f"SELECT COUNT(*) FROM events WHERE lease_owner = '{node}' AND lease_until_ms > 0", schema_url))
            r0 = metric(ADMIN_PORT, "switchyard_leases_renewed_total")
            n0 = metric(ADMIN_PORT, "switchyard_lease_renewals_total")
            plan = psql("EXPLAIN (ANALYZE, TIMING OFF) UPDATE events SET lease_until_ms = lease_until_ms, due_at_ms = due_at_ms "
                        f"WHERE lease_owner = '{node}' AND lease_until_ms > 0 AND state = 'pending' AND leased_at_ms > 0",
                        schema_url)
            ms = float(re.search(r"Execution Time: ([0-9.]+) ms", plan).group(1))
            time.sleep(5.5)
            rounds = metric(ADMIN_PORT, "switchyard_lease_renewals_total") - n0
            renewed = metric(ADMIN_PORT, "switchyard_leases_renewed_total") - r0
            return {"held": held, "round_ms": ms, "rounds": rounds, "renewed_per_round": renewed / max(rounds, 1)}
        finally:
            compare.stop(gw)
            compare.stop(sink)
            compare.stop(upstream)

    def run(self):
        results = {n: [] for n in (1, 2, 3)}
        for r in range(self.args.rounds):
            order = [1, 2, 3] if r % 2 == 0 else [3, 2, 1]
            for n in order:
                got = self.one(n)
                print(f"round {r + 1}: {n} gateway(s): {got}", file=sys.stderr)
                results[n].append(got)
        print(f"\n| gateways ({self.args.connections} connections, {self.args.seconds} s, {self.args.rounds} rounds) "
              "| events/s by round | mean | ratio to 1 | commits/s | commits per event | rows written per event "
              "| PostgreSQL CPU per event | renewal statements/s |")
        print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        first = statistics.mean(x["rate"] for x in results[1])
        for n, runs in results.items():
            mean = statistics.mean(x["rate"] for x in runs)
            avg = lambda k: statistics.mean(x[k] for x in runs)
            rates = ", ".join(f"{x['rate']:,}" for x in runs)
            print(f"| {n} | {rates} | {round(mean):,} | {mean / first:.2f} "
                  f"| {round(avg('commits_per_s')):,} | {avg('commits_per_event'):.3f} | {avg('rows_per_event'):.2f} "
                  f"| {avg('pg_cpu_us_per_event'):.0f} µs "
                  f"| {avg('renewal_statements_per_s'):.2f} |")
        got = self.renewal()
        print(f"\nRenewal with {got['held']} events leased by one gateway: the round's UPDATE takes "
              f"{got['round_ms']:.2f} ms in the database (EXPLAIN ANALYZE); {got['rounds']:.0f} rounds in 5.5 s, "
              f"{got['renewed_per_round']:.0f} rows renewed per round.")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=15)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--rounds", type=int, default=2)
    Cluster(p.parse_args()).run()


if __name__ == "__main__":
    main()
