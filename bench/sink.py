#!/usr/bin/env python3
"""A destination for benchmarks, and a probe that waits for a change to show in its deliveries.

    sink.py serve PORT
        Answers every POST with 200 and records, per delivery, its path, the event it came from
        (`source_event_id` from order-to-erp, `id` from envelope), its shape (which plugin made
        it) and the `data.id` marker of the order inside. GET /stats gives the counts as JSON;
        GET /seen?marker=M gives the first delivery of marker M.

    sink.py probe GATEWAY SINK SINCE MARKER_BASE EXPECT_PATH EXPECT_SHAPE
        Posts BigCommerce orders to GATEWAY with fresh markers every 20 ms until one arrives at
        the sink at EXPECT_PATH in EXPECT_SHAPE (erp | envelope), at most 10 s. Prints
        "<ms from SINCE (Unix seconds, the time of the change) to that delivery> <orders
        accepted>"; exits 1 if it never arrives.

It keeps everything in memory and never writes a file; it is a test double, not a product.
"""

import json
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOCK = threading.Lock()
STATS = {"deliveries": 0, "by_path": {}, "by_shape": {}, "events": set()}
MARKERS = {}


def classify(body):
    """(event id, shape, marker) of a delivered body."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None, "other", None
    if not isinstance(doc, dict):
        return None, "other", None
    if "record_type" in doc:
        return doc.get("source_event_id"), "erp", doc.get("order_number")
    if "payload" in doc:
        payload = doc.get("payload") or {}
        data = payload.get("data") if isinstance(payload, dict) else None
        marker = data.get("id") if isinstance(data, dict) else None
        return doc.get("id"), "envelope", None if marker is None else str(marker)
    return None, "other", None


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        event, shape, marker = classify(body)
        with LOCK:
            STATS["deliveries"] += 1
            STATS["by_path"][self.path] = STATS["by_path"].get(self.path, 0) + 1
            STATS["by_shape"][shape] = STATS["by_shape"].get(shape, 0) + 1
            if event:
                STATS["events"].add(event)
            if marker is not None and marker not in MARKERS:
                MARKERS[marker] = {"path": self.path, "shape": shape, "at": time.time()}
        self.answer(200, b"{}")

    def do_GET(self):
        url = urlparse(self.path)
        with LOCK:
            if url.path == "/stats":
                view = dict(STATS, events=len(STATS["events"]))
            elif url.path == "/seen":
                marker = parse_qs(url.query).get("marker", [""])[0]
                view = MARKERS.get(marker)
            else:
                view = None
        self.answer(200 if view is not None else 404, json.dumps(view).encode())

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def order(marker):
    return json.dumps({
        "scope": "store/order/created", "store_id": "1025646",
        "data": {"type": "order", "id": marker},
        "hash": f"probe-{marker}", "created_at": int(time.time()), "producer": "stores/abc123",
    }).encode()


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.loads(r.read())
    except Exception:
        return None


def probe(gateway, sink, since, base, expect_path, expect_shape):
    start, sent, accepted = float(since), [], 0
    while time.time() - start < 10:
        marker = f"{base}{len(sent)}"
        request = urllib.request.Request(
            f"{gateway}/hooks/bigcommerce", data=order(marker),
            headers={"content-type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=2) as r:
                accepted += r.status == 200
        except Exception:
            pass
        sent.append(marker)
        time.sleep(0.02)
        for m in sent:
            seen = get(f"{sink}/seen?marker={m}")
            if seen and seen["path"] == expect_path and seen["shape"] == expect_shape:
                print(f"{(seen['at'] - start) * 1000:.0f} {accepted}")
                return 0
    print(f"-1 {accepted}")
    return 1


def main(argv):
    if len(argv) == 3 and argv[1] == "serve":
        server = ThreadingHTTPServer(("127.0.0.1", int(argv[2])), Sink)
        server.daemon_threads = True
        server.serve_forever()
        return 0
    if len(argv) == 8 and argv[1] == "probe":
        return probe(*argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
