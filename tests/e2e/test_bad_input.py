"""Bad cell descriptions stop cellctl before anything starts, naming the file and the key."""
from __future__ import annotations

import socket
from typing import Any, Callable

import pytest

from .conftest import run_cellctl


def _unknown_kind(d: dict[str, Any]) -> None:
    d["devices"]["machine"]["kind"] = "laser_cutter"


def _missing_endpoint(d: dict[str, Any]) -> None:
    del d["devices"]["welder"]["endpoint"]


def _limit_without_unit(d: dict[str, Any]) -> None:
    d["devices"]["robot"]["limits"]["travel_speed"] = {"min": 3, "max": 12}


@pytest.mark.parametrize("edit, key, reason", [
    (_unknown_kind, "devices.machine.kind", "unknown device kind 'laser_cutter'"),
    (_missing_endpoint, "devices.welder.endpoint", "missing"),
    (_limit_without_unit, "devices.robot.limits.travel_speed", "limit has no unit"),
])
def test_bad_description_names_file_and_key(cell_file, cell_env, tmp_path,
                                            edit: Callable[[dict[str, Any]], None], key: str, reason: str) -> None:
    path = cell_file(edit)
    result = run_cellctl(["shift", "--config", str(path)], cell_env, timeout_s=30)
    assert result.returncode == 2
    assert f"{path}: {key}: {reason}" in result.stderr
    assert not (tmp_path / "logs").exists(), "nothing may start on bad input"


def test_unreachable_real_device_is_refused_before_anything_starts(cell_file, cell_env, tmp_path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def real_welder(d: dict[str, Any]) -> None:
        d["devices"]["welder"]["backend"] = "real"
        d["devices"]["welder"]["endpoint"] = f"opc.tcp://127.0.0.1:{port}"
        d["twin"]["time_scale"] = 1
    path = cell_file(real_welder)
    result = run_cellctl(["shift", "--config", str(path)], cell_env, timeout_s=30)
    assert result.returncode == 2
    assert f"{path}: devices.welder.endpoint: opc.tcp://127.0.0.1:{port} is unreachable" in result.stderr
    assert not (tmp_path / "logs").exists()


def test_a_port_in_use_is_refused(cell_file, cell_env, tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        path = cell_file(lambda d: d["devices"]["feeder"].update(endpoint=f"opc.tcp://127.0.0.1:{port}"))
        result = run_cellctl(["shift", "--config", str(path)], cell_env, timeout_s=30)
    assert result.returncode == 2
    assert f"devices.feeder.endpoint: port {port} is already in use" in result.stderr
    assert not (tmp_path / "logs").exists()
