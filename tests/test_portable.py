"""Portability: the same job on Beam's PortableRunner with an external SDK worker pool — the Fn API that
Flink, Spark and Dataflow workers speak — writes exactly the rows of the in-process run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedflow.cli import main
from feedflow.query import run_query

REPO = Path(__file__).resolve().parents[1]
#: Relative on purpose: the worker pool runs in another directory, so feedflow must pass absolute paths.
SEEDS = [f"seeds/{n}" for n in ("harris_border.txt", "sample-feed.xml", "feeds.opml")]

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def worker_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An external SDK worker pool on 127.0.0.1, started in another directory with the venv's bin first
    on PATH (else the workers start the wrong Python); stopped after the module."""
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = tmp_path_factory.mktemp("pool") / "pool.log"
    with open(log, "w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"],
            cwd=log.parent, env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert proc.poll() is None, log.read_text()
        time.sleep(0.2)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_portable_runner_writes_the_in_process_rows(
    worker_pool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    local, portable = tmp_path / "local", tmp_path / "portable"
    assert main(["run", *SEEDS, "--output", str(local)]) == 0
    beam_args = ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=EXTERNAL",
                 f"--environment_config={worker_pool}"]  # fmt: skip
    assert main(["run", *SEEDS, "--output", str(portable), "--", *beam_args]) == 0
    for sql in (
        "SELECT article_id, title, text, [t.code for t in topics], duplicate_of FROM articles ORDER BY ALL",
        "SELECT article_id, entity, label, mentions, first_offset FROM entities ORDER BY ALL",
        "SELECT article_id, position, key_hash, duplicate_of FROM paragraphs ORDER BY ALL",
        "SELECT input, locator, reason FROM rejects ORDER BY ALL",
    ):
        expected = run_query(str(local), sql)[1]
        assert expected and run_query(str(portable), sql)[1] == expected, sql
    manifests = sorted((portable / "_runs").glob("*.json"))
    assert len(manifests) == 1 and '"runner": "PortableRunner"' in manifests[0].read_text()
