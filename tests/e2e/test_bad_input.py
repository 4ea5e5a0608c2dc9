"""Bad cell descriptions stop cellctl before anything starts, naming the file and the key."""
from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest

from cell_controller.testing import real_device_security

from .conftest import run_cellctl


def _unknown_kind(d: dict[str, Any]) -> None:
    d["devices"]["machine"]["kind"] = "laser_cutter"


def _missing_endpoint(d: dict[str, Any]) -> None:
    del d["devices"]["welder"]["endpoint"]


def _limit_without_unit(d: dict[str, Any]) -> None:
    d["devices"]["robot"]["limits"]["travel_speed"] = {"min": 3, "max": 12}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            d = d[key]
        d[last] = value
    return edit


def _same_endpoint_spelled_twice(d: dict[str, Any]) -> None:
    port = d["devices"]["robot"]["endpoint"].rsplit(":", 1)[1]
    d["devices"]["welder"]["endpoint"] = f"opc.tcp://localhost:{port}"


@pytest.mark.parametrize("edit, key, reason", [
    (_unknown_kind, "devices.machine.kind", "unknown device kind 'laser_cutter'"),
    (_missing_endpoint, "devices.welder.endpoint", "missing"),
    (_limit_without_unit, "devices.robot.limits.travel_speed", "limit has no unit"),
    (_set("devices.robot.publishing_rate", {"value": -5, "unit": "Hz"}), "devices.robot.publishing_rate",
     "expected 1..100 Hz"),
    (_set("devices.welder.publishing_rate", {"value": 1e12, "unit": "Hz"}), "devices.welder.publishing_rate",
     "expected 1..100 Hz"),
    (_set("devices.welder.limits.voltage", {"min": 17, "max": 1e300, "unit": "V"}), "devices.welder.limits.voltage",
     "is outside what the device takes"),
    (_set("procedure.voltage", {"value": 39, "unit": "V"}), "procedure.voltage", "is outside what the welder takes"),
    (_set("procedure.travel_speed", {"value": 14, "unit": "mm/s"}), "procedure.travel_speed",
     "is outside devices.robot.limits.travel_speed"),
    (_set("twin.machine_cycle", {"value": 90, "unit": "s"}), "twin.machine_cycle",
     "is outside devices.machine.limits.cycle_time"),
    (_same_endpoint_spelled_twice, "devices.welder.endpoint", "is the same endpoint as devices.robot.endpoint"),
    (_set("devices.feeder.endpoint", "opc.tcp://0.0.0.0:48999"), "devices.feeder.endpoint",
     "is not a loopback address"),
    (_set("policies.weld", "genius"), "policies.weld", "unknown policy 'genius'"),
])
def test_bad_description_names_file_and_key(cell_file, cell_env, tmp_path,
                                            edit: Callable[[dict[str, Any]], None], key: str, reason: str) -> None:
    path = cell_file(edit)
    result = run_cellctl(["shift", "--config", str(path)], cell_env, timeout_s=30)
    assert result.returncode == 2
    assert f"{path}: {key}: " in result.stderr and reason in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "logs").exists(), "nothing may start on bad input"
    check = run_cellctl(["check", "--config", str(path)], cell_env, timeout_s=30)
    assert check.returncode == 2 and f"{key}: " in check.stderr, "cellctl check refuses it up front too"
    ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(path) not in ps, "a process of the cell is running after a refused start"


def _garbage_certificate(security: dict[str, Any]) -> None:
    Path(security["certificate"]).write_bytes(b"not a certificate")


def _garbage_key(security: dict[str, Any]) -> None:
    Path(security["private_key"]).write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def _empty_trust(security: dict[str, Any]) -> None:
    for path in Path(security["trust"]).iterdir():
        path.unlink()


@pytest.mark.parametrize("spoil, reason", [
    (_garbage_certificate, "cell_cert.der: not a certificate (PEM or DER)"),
    (_garbage_key, "cell_key.pem: not an unencrypted PEM private key"),
    (_empty_trust, "the trust list holds no certificate"),
])
def test_unusable_security_files_are_refused_before_anything_starts(cell_file, cell_env, tmp_path, spoil,
                                                                    reason: str) -> None:
    def real_welder(d: dict[str, Any]) -> None:
        d["twin"]["time_scale"] = 1
        d["devices"]["welder"]["backend"] = "real"
        security = real_device_security(tmp_path)
        d["devices"]["welder"]["real"] = {"endpoint": "opc.tcp://127.0.0.1:48419", "security": security}
        spoil(security)
    path = cell_file(real_welder)
    for command in ("check", "shift"):
        result = run_cellctl([command, "--config", str(path)], cell_env, timeout_s=30)
        assert result.returncode == 2
        assert f"{path}: devices.welder.real.security: " in result.stderr and reason in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "logs").exists(), "nothing may start on bad input"
    assert str(path) not in subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout


def test_cell_twin_started_by_hand_refuses_a_description_before_any_server_listens(cell_file, cell_env) -> None:
    import sys

    path = cell_file(_set("devices.feeder.endpoint", "opc.tcp://0.0.0.0:48999"))
    twin = Path(sys.executable).with_name("cell-twin")
    result = subprocess.run([str(twin), "--config", str(path)], env=cell_env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "devices.feeder.endpoint" in result.stderr
    assert "Traceback" not in result.stderr and "listening" not in result.stderr


def test_unreachable_real_device_is_refused_before_anything_starts(cell_file, cell_env, tmp_path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def real_welder(d: dict[str, Any]) -> None:
        d["devices"]["welder"]["backend"] = "real"
        d["devices"]["welder"]["real"] = {"endpoint": f"opc.tcp://127.0.0.1:{port}",
                                          "security": real_device_security(tmp_path)}
        d["twin"]["time_scale"] = 1
    path = cell_file(real_welder)
    result = run_cellctl(["shift", "--config", str(path)], cell_env, timeout_s=30)
    assert result.returncode == 2
    assert f"{path}: devices.welder.real.endpoint: opc.tcp://127.0.0.1:{port} is unreachable" in result.stderr
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
