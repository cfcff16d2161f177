"""Shared fixtures: paths to the bundled data and the shared real-data fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"


def run_geo(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300):
    """Run the installed ``geo`` command as a user would; returns the CompletedProcess."""
    exe = Path(sys.executable).with_name("geo")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "geo"]
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, cwd=cwd or ROOT, env=full_env, timeout=timeout
    )


@pytest.fixture
def geo_cli():
    """The ``geo`` command runner."""
    return run_geo
