"""Fixtures for end-to-end runs: a private copy of the cell description and a way to run cellctl.

Each test gets free loopback ports, its own namespace, ROS_DOMAIN_ID and journal, so
runs never see each other or a developer's running cell.
"""
from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CELLCTL = str(Path(sys.executable).with_name("cellctl"))


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture
def cell_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a cell description derived from config/cell.yaml; `edit(data)` may change it further."""

    def make(edit: Callable[[dict[str, Any]], None] | None = None, name: str = "cell.yaml") -> Path:
        data = yaml.safe_load((REPO / "config/cell.yaml").read_text())
        for device, port in zip(data["devices"].values(), free_ports(len(data["devices"]))):
            device["endpoint"] = f"opc.tcp://127.0.0.1:{port}"
        data["cell"]["namespace"] = f"/e2e_{os.getpid()}_{random.randrange(10**6)}"
        data["cell"]["journal"] = str(tmp_path / "journal.sqlite")
        if edit is not None:
            edit(data)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return make


@pytest.fixture
def cell_env() -> dict[str, str]:
    """The environment for cellctl: a domain of its own."""
    return {**os.environ, "ROS_DOMAIN_ID": str(random.randrange(100, 230)), "CELL_BUS": "dds"}


def run_cellctl(args: list[str], env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess:
    return subprocess.run([CELLCTL, *args], env=env, capture_output=True, text=True, timeout=timeout_s,
                          stdin=subprocess.DEVNULL)
