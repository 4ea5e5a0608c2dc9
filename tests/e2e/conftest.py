"""Fixtures for end-to-end runs: a private copy of the cell description and a way to run cellctl.

Each test gets free loopback ports, its own namespace, ROS_DOMAIN_ID and journal, so
runs never see each other or a developer's running cell.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from cell_controller.testing import private_cell_file

CELLCTL = str(Path(sys.executable).with_name("cellctl"))


@pytest.fixture
def cell_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a private cell description derived from config/cell.yaml (see cell_controller.testing)."""
    return lambda edit=None, name="cell.yaml": private_cell_file(tmp_path, "e2e", edit, name)


@pytest.fixture
def cell_env() -> dict[str, str]:
    """The environment for cellctl: a domain of its own."""
    return {**os.environ, "ROS_DOMAIN_ID": str(random.randrange(100, 230)), "CELL_BUS": "dds"}


def run_cellctl(args: list[str], env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess:
    return subprocess.run([CELLCTL, *args], env=env, capture_output=True, text=True, timeout=timeout_s,
                          stdin=subprocess.DEVNULL)
