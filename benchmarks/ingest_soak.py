"""Local soak of `feedflow ingest`: N feeds served on 127.0.0.1 that grow between ticks, K ticks.

    python benchmarks/ingest_soak.py [--feeds 50] [--ticks 6] [--every 3s] [--skip entities]

Each feed starts with 10 entries and gains one new entry every second tick; every fifth feed revises
its newest entry once; every seventh answers 304 to a matching If-None-Match; one feed always fails
with 503. The script runs the ingester in loop mode as a child process, prints each tick's summary
line with the dataset's row count after it, and the child's peak RSS at the end. Traffic never leaves
127.0.0.1 and the run stops by itself after K ticks.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from feedflow.query import run_query

WORDS = [
    "council",
    "budget",
    "storm",
    "coast",
    "market",
    "shares",
    "election",
    "minister",
    "hospital",
    "patients",
    "court",
    "ruling",
    "school",
    "teachers",
    "energy",
    "prices",
    "river",
    "flood",
    "police",
    "inquiry",
    "festival",
    "music",
    "rail",
    "strike",
    "bank",
    "rates",
    "football",
    "league",
    "harbour",
    "ships",
    "university",
    "research",
]


def body_of(feed: int, n: int, revision: int) -> str:
    words = [WORDS[(feed * 7 + n * 3 + k) % len(WORDS)] for k in range(60)]
    text = " ".join(words).capitalize() + "."
    return text + (f" Updated {revision}." if revision else "")


class Feeds:
    def __init__(self, count: int) -> None:
        self.count = count
        self.polls = [0] * count
        self.lock = threading.Lock()
        self.start = datetime.now(UTC) - timedelta(days=2)

    def render(self, feed: int) -> tuple[int, str, str]:
        with self.lock:
            self.polls[feed] += 1
            poll = self.polls[feed]
        entries = 10 + poll // 2
        revision = 1 if feed % 5 == 0 and poll >= 3 else 0
        items = []
        for n in range(entries):
            when = format_datetime(self.start + timedelta(hours=n))
            rev = revision if n == entries - 1 else 0
            items.append(
                f"<item><guid>f{feed}-e{n}</guid><link>https://soak{feed}.example/e{n}</link>"
                f"<title>Feed {feed} entry {n}</title><pubDate>{when}</pubDate>"
                f"<description>{body_of(feed, n, rev)}</description></item>"
            )
        etag = f'"f{feed}-{entries}-{revision}"'
        xml = (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Soak {feed}</title>{"".join(items)}'
            "</channel></rss>"
        )
        return 200, etag, xml


def serve(feeds: Feeds) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:
            feed = int(self.path.strip("/").split(".")[0])
            if feed == feeds.count - 1:
                self.send_response(503)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, etag, xml = feeds.render(feed)
            if feed % 7 == 0 and self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = xml.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--ticks", type=int, default=6)
    parser.add_argument("--every", default="3s")
    parser.add_argument("--skip", default="entities")
    ns = parser.parse_args()
    feeds = Feeds(ns.feeds)
    server = serve(feeds)
    port = server.server_address[1]
    with tempfile.TemporaryDirectory() as tmp:
        lst = Path(tmp) / "feeds.txt"
        lst.write_text("".join(f"http://127.0.0.1:{port}/{i}.xml\n" for i in range(ns.feeds)))
        out = Path(tmp) / "data"
        cmd = [sys.executable, "-m", "feedflow.cli", "ingest", "--feeds", str(lst), "--output", str(out),
               "--every", ns.every, "--max-ticks", str(ns.ticks), "--ignore-schedule", "--skip", ns.skip]  # fmt: skip
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            rows = run_query(str(out), "SELECT count(*) FROM articles")[1][0][0]
            print(f"{line.strip()}  | articles rows now: {rows}", flush=True)
        proc.wait()
        elapsed = time.monotonic() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"{ns.feeds} feeds, {ns.ticks} ticks in {elapsed:.1f}s; exit {proc.returncode}; "
              f"peak RSS of the ingester: {peak:.0f} MiB (cpu count {os.cpu_count()})")  # fmt: skip
    server.shutdown()
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
