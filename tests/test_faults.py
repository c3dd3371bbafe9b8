"""Faults (issue 7): kill -9 of `feedflow run` at random moments, a full disk, a read-only output folder.

Every test runs the real command in a child process. The kill loop is benchmarks/kill_harness.py's
(`make kill-harness` repeats it 50 times); here it runs 5 times.

Disk full is a real full file system when this process may mount a small tmpfs (root), and always also
a child run under RLIMIT_FSIZE with SIGXFSZ ignored, so every write past the limit fails with EFBIG
(the test ids say which). Read-only is a tmpfs remounted read-only (root), else a folder without write
permission (a non-root user).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ holds the shared harness
harness = importlib.import_module("benchmarks.kill_harness")

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("FEEDFLOW_TEST_KILLS", "5"))


def snapshot(root: Path) -> dict[str, bytes]:
    """Every committed file (tables and manifests) with its bytes."""
    out = {}
    for sub in ("articles", "paragraphs", "entities", "rejects", "_runs"):
        folder = root / sub
        if folder.exists():
            out.update({str(p.relative_to(root)): p.read_bytes() for p in folder.rglob("*") if p.is_file()})
    return out


def test_kill_9_of_feedflow_run_at_random_moments_then_a_rerun_gives_the_same_dataset(tmp_path: Path) -> None:
    lines: list[str] = []
    landed, total, failures = harness.harness(KILLS, seed=11, workdir=tmp_path, log=lines.append)
    assert total == KILLS and failures == [], "\n".join(lines)
    assert landed >= 1, "\n".join(lines)  # at least one kill hit a running process


@pytest.mark.parametrize("point", ["before_commit", "mid_commit"])
def test_kill_9_of_feedflow_run_at_each_commit_point_then_a_rerun_gives_the_same_dataset(
    tmp_path: Path, point: str
) -> None:
    """Random kills mostly land in start-up and the pipeline; the commit's named points are hit here."""
    inputs = harness.make_inputs(tmp_path / "inputs")
    assert harness.clean_run(inputs, tmp_path / "reference").returncode == 0
    out = tmp_path / "data"
    killed = subprocess.run(
        harness.run_command(inputs, out), capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "FEEDFLOW_CRASH_AT": point},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    assert (point == "mid_commit") == any((out / "_staging").glob("*/_commit.json"))
    assert harness.clean_run(inputs, out).returncode == 0
    assert harness.compare(harness.dataset_state(tmp_path / "reference"), harness.dataset_state(out)) == []


def test_the_harness_notices_a_different_dataset(tmp_path: Path) -> None:
    inputs = harness.make_inputs(tmp_path / "inputs")
    assert harness.clean_run(inputs, tmp_path / "a").returncode == 0
    reference = harness.dataset_state(tmp_path / "a")
    assert harness.compare(reference, reference) == []
    stray = tmp_path / "a" / "_staging" / "run" / "articles" / "part.parquet"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(next((tmp_path / "a" / "articles").rglob("*.parquet")).read_bytes())
    assert any("orphans" in p for p in harness.compare(reference, harness.dataset_state(tmp_path / "a")))
    fewer = {**reference, "articles": reference["articles"][1:]}
    assert harness.compare(reference, fewer)


# ------------------------------------------------------------------------------ disk full, read-only


def can_mount() -> bool:
    return os.geteuid() == 0 and Path("/proc/mounts").is_file()


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def feedflow(args: list[str], fsize: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize or 0, fsize or 0))

    return subprocess.run(
        [sys.executable, "-m", "feedflow.cli", *args], capture_output=True, text=True, timeout=600, check=False,
        preexec_fn=limit if fsize is not None else None,
    )  # fmt: skip


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("feedflow: error:")]


@pytest.mark.parametrize("how", ["tmpfs", "rlimit_fsize"] if can_mount() else ["rlimit_fsize"])
def test_disk_full_fails_cleanly_and_keeps_the_previous_dataset(tmp_path: Path, how: str) -> None:
    inputs = harness.make_inputs(tmp_path / "inputs")
    first, second = inputs[:1], inputs[1:]
    with contextlib.ExitStack() as stack:
        root = stack.enter_context(tmpfs(tmp_path / "disk", "16m")) if how == "tmpfs" else tmp_path / "disk"
        out = root / "data"
        run = ["--output", str(out), "--skip", harness.SKIP]
        assert feedflow(["run", *first, *run]).returncode == 0
        before = snapshot(out)
        if how == "tmpfs":
            with open(root / "filler", "wb") as filler, contextlib.suppress(OSError):
                while True:
                    filler.write(b"\0" * (1 << 16))
            result = feedflow(["run", *second, *run])
        else:
            result = feedflow(["run", *second, *run], fsize=4096)  # the part files are larger
        assert result.returncode == 1, result.stderr[-3000:]
        [message] = error_lines(result.stderr)
        assert "cannot write to the output folder" in message
        assert ("No space left on device" if how == "tmpfs" else "File too large") in message
        assert snapshot(out) == before
        assert not any((out / "_staging").iterdir())
        if how == "tmpfs":
            (root / "filler").unlink()
        assert feedflow(["run", *second, *run]).returncode == 0  # space again: the run goes through
        assert len(snapshot(out)) > len(before)


@pytest.mark.parametrize("how", ["tmpfs_ro" if can_mount() else "chmod"])
def test_a_read_only_output_folder_is_a_clear_error_and_stays_intact(tmp_path: Path, how: str) -> None:
    if how == "chmod" and os.geteuid() == 0:
        pytest.skip("root ignores permissions and may not mount here")
    inputs = harness.make_inputs(tmp_path / "inputs")
    with contextlib.ExitStack() as stack:
        root = stack.enter_context(tmpfs(tmp_path / "disk", "16m")) if how == "tmpfs_ro" else tmp_path / "disk"
        out = root / "data"
        run = ["--output", str(out), "--skip", harness.SKIP]
        assert feedflow(["run", inputs[0], *run]).returncode == 0
        before = snapshot(out)
        if how == "tmpfs_ro":
            subprocess.run(["mount", "-o", "remount,ro", str(root)], check=True)
        else:
            for path in [out, *out.rglob("*")]:
                if path.is_dir():
                    path.chmod(0o555)
            stack.callback(lambda: [p.chmod(0o755) for p in [out, *out.rglob("*")] if p.is_dir()])
        result = feedflow(["run", *inputs[1:], *run])
        assert result.returncode == 2, result.stderr[-3000:]
        [message] = error_lines(result.stderr)
        assert "not writable" in message
        assert snapshot(out) == before


def test_child_processes_keep_their_temporary_files_under_pytests_root(child_temp_dir: Path) -> None:
    """What a killed child leaves (Beam's pipeline folder) lands where pytest clears it, not in /tmp."""
    shown = subprocess.run(
        [sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert Path(shown.stdout.strip()) == child_temp_dir
