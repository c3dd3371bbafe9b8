"""The core stays Beam-free: enforced by ruff (TID251) and checked here by importing it without Beam."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def ruff_on(filename: str) -> subprocess.CompletedProcess[str]:
    """ruff's verdict on a module importing apache_beam, as if it lived at ``filename``."""
    ruff = Path(sys.executable).with_name("ruff")
    return subprocess.run(
        [str(ruff), "check", "--no-cache", "--stdin-filename", filename, "-"],
        input="import apache_beam\n\nprint(apache_beam)\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )


def test_ruff_bans_apache_beam_inside_the_core() -> None:
    result = ruff_on("src/feedflow/core/example.py")
    assert result.returncode == 1
    assert "TID251" in result.stdout and "Beam-free" in result.stdout


def test_ruff_allows_apache_beam_in_transforms() -> None:
    result = ruff_on("src/feedflow/transforms/example.py")
    assert result.returncode == 0, result.stdout


def test_the_core_imports_without_apache_beam() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'apache_beam' or name.startswith('apache_beam.'):\n"
        "            raise ImportError('apache_beam is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import pkgutil, importlib, feedflow.core\n"
        "for m in pkgutil.iter_modules(feedflow.core.__path__):\n"
        "    importlib.import_module('feedflow.core.' + m.name)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
