"""The cell description: the real file loads, units convert, and every bad input names file, key and reason.

Bad files are made by editing the real config/cell.yaml (load, mutate, dump), so these tests
stay true to the file the cell actually runs with.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from cell_controller.core.config import CellConfig, ConfigError, load_cell
from cell_controller.core.types import Backend
from cell_controller.testing import real_device_security

REAL = Path(__file__).resolve().parents[2] / "config" / "cell.yaml"


def real_data() -> dict[str, Any]:
    return yaml.safe_load(REAL.read_text())


def write(tmp_path: Path, data: Any, name: str = "cell.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def edited(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> Path:
    data = real_data()
    mutate(data)
    return write(tmp_path, data)


# --------------------------------------------------------------------------- the real file


def test_real_cell_description_loads_as_written() -> None:
    """Every value of config/cell.yaml arrives, compared with the raw YAML (not pinned numbers)."""
    raw = yaml.safe_load(REAL.read_text())
    config = load_cell(REAL)
    assert isinstance(config, CellConfig)
    assert config.path == REAL
    assert (config.name, config.namespace, config.parts_per_shift, config.seed) == (
        raw["cell"]["name"], raw["cell"]["namespace"], raw["cell"]["parts_per_shift"], raw["cell"]["seed"])
    assert config.time_scale == raw["twin"]["time_scale"]
    # the journal path is relative to the file's folder
    assert config.journal_path == (REAL.parent / raw["cell"]["journal"]).resolve()
    for name, device in raw["devices"].items():
        loaded = config.devices[name]
        assert (loaded.kind.value, loaded.backend.value, loaded.endpoint) == (
            device["kind"], device["backend"], device["endpoint"])
        assert loaded.publishing_rate_Hz == device["publishing_rate"]["value"]
        assert set(loaded.limits) == set(device["limits"])
    # exactly one device per role
    assert {config.device(role).kind.role for role in ("robot", "welder", "machine", "feeder")} == {
        "robot", "welder", "machine", "feeder"}
    with pytest.raises(KeyError):
        config.device("painter")
    p = config.procedure
    assert (p.voltage_V, p.wire_feed_m_min, p.travel_speed_mm_s, p.current_A, p.gas_flow_L_min) == tuple(
        raw["procedure"][k]["value"] for k in ("voltage", "wire_feed", "travel_speed", "current", "gas_flow"))
    assert config.policies.rate_limits_per_s == {
        k.removesuffix("_per_s"): v["value"] for k, v in raw["policies"]["rate_limits"].items()}


def test_real_file_units_are_the_canonical_ones() -> None:
    """The shipped file already uses canonical units, so its numbers load unchanged."""
    config = load_cell(REAL)
    assert config.device("welder").limits["wire_feed"].unit == "m/min"  # wire feed stays in m/min
    assert config.device("robot").limits["travel_speed"].unit == "mm/s"


# --------------------------------------------------------------------------- unit conversion


def test_speeds_in_m_min_become_mm_s_except_wire_feed(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["procedure"]["travel_speed"] = {"value": 0.42, "unit": "m/min"}        # 7 mm/s
        d["procedure"]["wire_feed"] = {"value": 200, "unit": "mm/s"}             # 12 m/min
        d["devices"]["robot"]["limits"]["travel_speed"] = {"min": 0.18, "max": 0.72, "unit": "m/min"}
        d["devices"]["welder"]["limits"]["wire_feed"] = {"min": 50, "max": 250, "unit": "mm/s"}
        d["policies"]["rate_limits"]["travel_speed_per_s"] = {"value": 0.36, "unit": "m/min"}
        d["policies"]["rate_limits"]["wire_feed_per_s"] = {"value": 100, "unit": "mm/s"}
        d["feeding"]["conveyor_speed"] = {"value": 15, "unit": "m/min"}          # 250 mm/s

    config = load_cell(edited(tmp_path, mutate))
    assert config.procedure.travel_speed_mm_s == pytest.approx(7.0)
    assert config.procedure.wire_feed_m_min == pytest.approx(12.0)
    travel = config.device("robot").limits["travel_speed"]
    assert (travel.low, travel.high) == (pytest.approx(3.0), pytest.approx(12.0))
    assert travel.unit == "mm/s", "a Limit's unit must name the canonical unit its numbers are in"
    wire = config.device("welder").limits["wire_feed"]
    assert (wire.low, wire.high, wire.unit) == (pytest.approx(3.0), pytest.approx(15.0), "m/min")
    assert config.policies.rate_limits_per_s["travel_speed"] == pytest.approx(6.0)
    assert config.policies.rate_limits_per_s["wire_feed"] == pytest.approx(6.0)
    assert config.feeding.conveyor_speed_mm_s == pytest.approx(250.0)


def test_times_and_lengths_convert(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["twin"]["machine_cycle"] = {"value": 6500, "unit": "ms"}
        d["feeding"]["feed_interval"] = {"value": 0.75, "unit": "min"}
        d["devices"]["robot"]["limits"]["torch_offset"] = {"min": -0.002, "max": 0.004, "unit": "m"}
        d["devices"]["machine"]["limits"]["cycle_time"] = {"min": 500, "max": 2000, "unit": "ms"}

    config = load_cell(edited(tmp_path, mutate))
    assert config.machine_cycle_s == pytest.approx(6.5)
    assert config.feeding.feed_interval_s == pytest.approx(45.0)
    torch = config.device("robot").limits["torch_offset"]
    assert (torch.low, torch.high, torch.unit) == (pytest.approx(-2.0), pytest.approx(4.0), "mm")
    cycle = config.device("machine").limits["cycle_time"]
    assert (cycle.low, cycle.high, cycle.unit) == (pytest.approx(0.5), pytest.approx(2.0), "s")


def test_real_devices_load_in_real_time(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["twin"]["time_scale"] = 1
        d["devices"]["welder"]["backend"] = "real"
        d["devices"]["welder"]["real"] = {"endpoint": "opc.tcp://10.0.0.7:4840",
                                          "security": real_device_security(tmp_path)}

    config = load_cell(edited(tmp_path, mutate))
    welder = config.device("welder")
    assert welder.backend is Backend.REAL
    assert config.time_scale == 1
    assert welder.real is not None and welder.real.security.policy == "Basic256Sha256"
    assert welder.real.security.user is not None and welder.real.security.user.password() == "correct horse"
    assert config.device("robot").real is None


# --------------------------------------------------------------------------- bad input


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    keys = path.split(".")

    def mutate(d: dict[str, Any]) -> None:
        node = d
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return mutate


def _del(path: str) -> Callable[[dict[str, Any]], None]:
    keys = path.split(".")

    def mutate(d: dict[str, Any]) -> None:
        node = d
        for k in keys[:-1]:
            node = node[k]
        del node[keys[-1]]
    return mutate


def _second_robot(d: dict[str, Any]) -> None:
    robot2 = copy.deepcopy(d["devices"]["robot"])
    robot2["endpoint"] = "opc.tcp://127.0.0.1:48419"
    d["devices"]["robot2"] = robot2


BAD: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    # id, mutation, expected dotted key, fragment of the reason
    ("unknown-kind", _set("devices.robot.kind", "laser"), "devices.robot.kind", "unknown device kind"),
    ("unknown-backend", _set("devices.robot.backend", "sim"), "devices.robot.backend", "expected one of 'twin', 'real', 'shadow'"),
    ("missing-endpoint", _del("devices.welder.endpoint"), "devices.welder.endpoint", "missing"),
    ("endpoint-http", _set("devices.welder.endpoint", "http://127.0.0.1:48411"), "devices.welder.endpoint",
     "opc.tcp://host:port"),
    ("endpoint-no-port", _set("devices.welder.endpoint", "opc.tcp://127.0.0.1"), "devices.welder.endpoint",
     "opc.tcp://host:port"),
    ("endpoint-no-host", _set("devices.welder.endpoint", "opc.tcp://:48411"), "devices.welder.endpoint",
     "opc.tcp://host:port"),
    ("endpoint-port-not-number", _set("devices.welder.endpoint", "opc.tcp://127.0.0.1:abc"),
     "devices.welder.endpoint", "opc.tcp://host:port"),
    ("endpoint-port-out-of-range", _set("devices.welder.endpoint", "opc.tcp://127.0.0.1:70000"),
     "devices.welder.endpoint", "opc.tcp://host:port"),
    ("endpoint-not-string", _set("devices.welder.endpoint", 48411), "devices.welder.endpoint",
     "opc.tcp://host:port"),
    ("duplicate-endpoint", _set("devices.welder.endpoint", "opc.tcp://127.0.0.1:48410"), "devices.welder.endpoint",
     "already used by devices.robot"),
    ("duplicate-endpoint-same-host-port", _set("devices.welder.endpoint", "opc.tcp://127.0.0.1:48410/"),
     "devices.welder.endpoint", "already used by devices.robot"),
    ("limit-without-unit", _set("devices.robot.limits.travel_speed", {"min": 3, "max": 12}),
     "devices.robot.limits.travel_speed", "no unit"),
    ("limit-bare-number", _set("devices.robot.limits.travel_speed", 12),
     "devices.robot.limits.travel_speed", "no unit"),
    ("limit-missing-max", _set("devices.robot.limits.travel_speed", {"min": 3, "unit": "mm/s"}),
     "devices.robot.limits.travel_speed.max", "missing"),
    ("quantity-without-unit", _set("procedure.voltage", 24), "procedure.voltage", "needs a unit"),
    ("quantity-not-number", _set("procedure.voltage", {"value": "24", "unit": "V"}), "procedure.voltage.value",
     "finite number"),
    ("quantity-nan", _set("procedure.voltage", {"value": float("nan"), "unit": "V"}), "procedure.voltage.value",
     "finite number"),
    ("unknown-unit", _set("devices.robot.limits.travel_speed", {"min": 3, "max": 12, "unit": "furlong/fortnight"}),
     "devices.robot.limits.travel_speed.unit", "unknown unit"),
    ("unknown-unit-quantity", _set("procedure.gas_flow", {"value": 15, "unit": "cfh"}), "procedure.gas_flow.unit",
     "unknown unit"),
    ("travel-speed-in-volts", _set("devices.robot.limits.travel_speed", {"min": 3, "max": 12, "unit": "V"}),
     "devices.robot.limits.travel_speed.unit", "expected a speed"),
    ("wire-feed-in-amps", _set("procedure.wire_feed", {"value": 8, "unit": "A"}), "procedure.wire_feed.unit",
     "expected a speed"),
    ("machine-cycle-in-mm", _set("twin.machine_cycle", {"value": 6, "unit": "mm"}), "twin.machine_cycle.unit",
     "expected a time"),
    ("rate-limit-wrong-dimension", _set("policies.rate_limits.voltage_per_s", {"value": 8, "unit": "A"}),
     "policies.rate_limits.voltage_per_s.unit", "expected a voltage"),
    ("min-above-max", _set("devices.welder.limits.voltage", {"min": 30, "max": 17, "unit": "V"}),
     "devices.welder.limits.voltage", "above max"),
    ("unknown-top-level-key", _set("extras", {"a": 1}), "extras", "unknown key"),
    ("unknown-cell-key", _set("cell.colour", "blue"), "cell.colour", "unknown key"),
    ("unknown-twin-key", _set("twin.gravity", 9.81), "twin.gravity", "unknown key"),
    ("unknown-device-key", _set("devices.robot.payload", 5), "devices.robot.payload", "unknown key"),
    ("limit-not-allowed-for-kind", _set("devices.robot.limits.voltage", {"min": 1, "max": 2, "unit": "V"}),
     "devices.robot.limits.voltage", "unknown key"),
    ("unknown-limit-field", _set("devices.welder.limits.voltage", {"min": 17, "max": 30, "unit": "V", "step": 1}),
     "devices.welder.limits.voltage.step", "unknown key"),
    ("unknown-procedure-key", _set("procedure.pressure", {"value": 1, "unit": "1"}), "procedure.pressure",
     "unknown key"),
    ("unknown-policies-key", _set("policies.safety", "off"), "policies.safety", "unknown key"),
    ("unknown-rate-limit", _set("policies.rate_limits.current_per_s", {"value": 1, "unit": "A"}),
     "policies.rate_limits.current_per_s", "unknown key"),
    ("unknown-feeding-key", _set("feeding.speed", 3), "feeding.speed", "unknown key"),
    ("missing-procedure", _del("procedure"), "procedure", "missing"),
    ("missing-procedure-voltage", _del("procedure.voltage"), "procedure.voltage", "missing"),
    ("missing-devices", _del("devices"), "devices", "missing"),
    ("devices-not-mapping", _set("devices", ["robot", "welder"]), "devices", "expected a mapping"),
    ("device-not-mapping", _set("devices.robot", "robot"), "devices.robot", "expected a mapping"),
    ("no-welder", _del("devices.welder"), "devices (welder)", "exactly one welder"),
    ("no-machine", _del("devices.machine"), "devices (machine)", "exactly one machine"),
    ("two-robots", _second_robot, "devices (robot)", "several devices"),
    ("time-scale-zero", _set("twin.time_scale", 0), "twin.time_scale", "0.1..100"),
    ("namespace-relative", _set("cell.namespace", "cell"), "cell.namespace", "must start with '/'"),
    ("parts-per-shift-zero", _set("cell.parts_per_shift", 0), "cell.parts_per_shift", "positive integer"),
    ("domain-id-too-big", _set("cell.domain_id", 300), "cell.domain_id", "0..232"),
    ("domain-id-bool", _set("cell.domain_id", True), "cell.domain_id", "0..232"),
    ("seed-not-integer", _set("cell.seed", "seven"), "cell.seed", "integer"),
    ("buffer-capacity-fraction", _set("feeding.buffer_capacity", {"value": 2.5, "unit": "parts"}),
     "feeding.buffer_capacity", "whole number"),
    ("buffer-capacity-huge", _set("feeding.buffer_capacity", {"value": 1e6, "unit": "parts"}),
     "feeding.buffer_capacity", "1..50"),
    ("starved-after-zero", _set("supervisor.starved_after", {"value": 0, "unit": "s"}), "supervisor.starved_after",
     "expected 0.1..3600 s, got 0 s"),
    ("rate-negative", _set("devices.robot.publishing_rate", {"value": -5, "unit": "Hz"}), "devices.robot.publishing_rate",
     "expected 1..100 Hz, got -5 Hz"),
    ("rate-zero", _set("devices.feeder.publishing_rate", {"value": 0, "unit": "Hz"}), "devices.feeder.publishing_rate",
     "expected 1..100 Hz"),
    ("rate-huge", _set("devices.welder.publishing_rate", {"value": 1e12, "unit": "Hz"}),
     "devices.welder.publishing_rate", "expected 1..100 Hz"),
    ("machine-cycle-zero", _set("twin.machine_cycle", {"value": 0, "unit": "s"}), "twin.machine_cycle", "0.5..3600 s"),
    ("control-rate-zero", _set("policies.control_rate", {"value": 0, "unit": "Hz"}), "policies.control_rate",
     "1..1000 Hz"),
    ("feed-interval-negative", _set("feeding.feed_interval", {"value": -1, "unit": "s"}), "feeding.feed_interval",
     "0.5..3600 s"),
    ("rate-limit-zero", _set("policies.rate_limits.voltage_per_s", {"value": 0, "unit": "V"}),
     "policies.rate_limits.voltage_per_s", "expected 1e-06..10000"),
    ("ideal-cycle-no-unit", _set("supervisor.ideal_cycle", 30), "supervisor.ideal_cycle", "needs a unit"),
    ("supervisor-unknown-key", _set("supervisor.patience", 3), "supervisor.patience", "unknown key"),
    ("mes-endpoint-not-opc", _set("mes.endpoint", "http://127.0.0.1:80"), "mes.endpoint", "opc.tcp://host:port"),
    ("mes-endpoint-of-a-device", _set("mes.endpoint", "opc.tcp://127.0.0.1:48410"), "mes.endpoint",
     "already used by devices.robot"),
    ("mes-open-without-accounts", _set("mes.endpoint", "opc.tcp://10.0.0.5:4840"), "mes.accounts",
     "needs an accounts file"),
    ("real-backend-without-real-device", _set("devices.robot.backend", "real"), "devices.robot.real", "missing"),
    ("shadow-backend-without-real-device", _set("devices.robot.backend", "shadow"), "devices.robot.real",
     "backend shadow needs the real device"),
    ("real-device-without-security", _set("devices.robot.real", {"endpoint": "opc.tcp://10.0.0.7:4840"}),
     "devices.robot.real.security", "missing"),
    ("real-endpoint-of-the-twin", _set("devices.robot.real", {"endpoint": "opc.tcp://127.0.0.1:48410"}),
     "devices.robot.real.endpoint", "already used by devices.robot.endpoint"),
    ("device-security-outside-real", _set("devices.robot.security", {"policy": "Basic256Sha256"}),
     "devices.robot.security", "move it to devices.robot.real.security"),
    ("plant-unknown-arc-source", _set("plant", {"arc_from": "wire"}), "plant.arc_from", "expected one of twin, plant"),
    ("price-without-unit", _set("costs.electricity", 0.22), "costs.electricity", "needs a unit with the currency"),
    ("price-without-currency", _set("costs.electricity", {"value": 0.22, "unit": "kWh"}), "costs.electricity.unit",
     "needs the currency and what it is per"),
    ("price-negative", _set("costs.wire.value", -2.6), "costs.wire.value", "cannot be negative"),
    ("price-in-another-currency", _set("costs.blank.unit", "USD/part"), "costs.blank.unit",
     "costs.currency is 'EUR'"),
    ("price-per-the-wrong-unit", _set("costs.shielding_gas.unit", "EUR/kg"), "costs.shielding_gas.unit",
     "priced per L, m^3"),
    ("unknown-currency", _set("costs.currency", "EUX"), "costs.currency", "unknown currency 'EUX'"),
    ("currency-in-lower-case", _set("costs.currency", "eur"), "costs.currency", "in capitals"),
    ("missing-price", _del("costs.machine_hour"), "costs.machine_hour", "missing"),
    ("unknown-cost-key", _set("costs.coffee", {"value": 1, "unit": "EUR/part"}), "costs.coffee", "unknown key"),
    ("wire-density-no-unit", _set("costs.wire_density", 7850), "costs.wire_density", "kg/m^3"),
    ("wire-diameter-huge", _set("costs.wire_diameter", {"value": 12, "unit": "mm"}), "costs.wire_diameter",
     "0.5..3 mm"),
    ("efficiency-above-one", _set("energy.power_source_efficiency", 1.2), "energy.power_source_efficiency",
     "expected 0.05..1"),
    ("idle-power-in-volts", _set("energy.welder_idle_power", {"value": 300, "unit": "V"}),
     "energy.welder_idle_power.unit", "expected a power"),
    ("unknown-inspector", _set("inspection.model", "oracle"), "inspection.model", "unknown inspector 'oracle'"),
    ("review-band-upside-down", _set("inspection.review_band", {"min": 0.9, "max": 0.1}), "inspection.review_band",
     "min 0.9 is above max 0.1"),
    ("review-band-not-a-probability", _set("inspection.review_band.max", 1.5), "inspection.review_band.max",
     "expected 0..1"),
    ("review-band-a-number", _set("inspection.review_band", 0.5), "inspection.review_band", "expected {min: P, max: P}"),
    ("weld-grading-a-word", _set("twin.weld_grading", "yes"), "twin.weld_grading", "expected true or false"),
    ("hmi-bind-without-port", _set("hmi", {"bind": "127.0.0.1"}), "hmi.bind", "expected ADDR:PORT"),
    ("hmi-bind-port-out-of-range", _set("hmi", {"bind": "127.0.0.1:70000"}), "hmi.bind", "a port 1..65535"),
    ("hmi-open-without-tls-or-accounts", _set("hmi", {"bind": "0.0.0.0:8080"}), "hmi.bind",
     "needs tls (a certificate and its key) and accounts (an accounts file)"),
    ("hmi-port-of-a-device", _set("hmi", {"bind": "127.0.0.1:48411"}), "hmi.bind", "port 48411 is already used by"),
    ("hmi-unknown-key", _set("hmi", {"bind": "127.0.0.1:8080", "theme": "dark"}), "hmi.theme", "unknown key"),
    ("hmi-session-timeout-in-metres", _set("hmi", {"session_timeout": {"value": 5, "unit": "m"}}),
     "hmi.session_timeout.unit", "expected a time"),
    ("hmi-session-timeout-too-short", _set("hmi", {"session_timeout": {"value": 10, "unit": "ms"}}),
     "hmi.session_timeout", "expected 1..86400 s"),
    ("hmi-accounts-missing", _set("hmi", {"accounts": "/nonexistent/accounts.yaml"}), "hmi.accounts", "no such file"),
    ("hmi-a-name-that-looks-like-loopback", _set("hmi", {"bind": "127.evil.example.com:8080"}), "hmi.bind",
     "(not loopback) needs tls"),
    ("hmi-localhost-on-a-devices-port", _set("hmi", {"bind": "localhost:48410"}), "hmi.bind",
     "port 48410 is already used by devices.robot"),
    ("hmi-server-names-a-word", _set("hmi", {"server_names": "cell-pc"}), "hmi.server_names",
     "expected a list of host names"),
]


@pytest.mark.parametrize(("mutate", "key", "reason"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_names_file_key_and_reason(tmp_path: Path, mutate, key: str, reason: str) -> None:
    path = edited(tmp_path, mutate)
    with pytest.raises(ConfigError) as info:
        load_cell(path)
    error = info.value
    assert error.file == str(path)
    assert error.key == key
    assert reason in error.reason
    message = str(error)
    assert message.startswith(f"{path}: {key}: "), message
    assert reason in message


# --------------------------------------------------------------------------- security


def _real_welder(folder: Path, edit: Callable[[dict[str, Any]], None] | None = None,
                 time_scale: float = 1) -> Callable[[dict[str, Any]], None]:
    """A mutation: the welder real, secured with keys made in `folder`, then `edit(security)`."""
    def mutate(d: dict[str, Any]) -> None:
        d["twin"]["time_scale"] = time_scale
        welder = d["devices"]["welder"]
        welder["backend"] = "real"
        welder["real"] = {"endpoint": "opc.tcp://10.0.0.7:4840", "security": real_device_security(folder)}
        if edit is not None:
            edit(welder["real"]["security"])
    return mutate


def _key_readable_by_all(security: dict[str, Any]) -> None:
    Path(security["private_key"]).chmod(0o644)


def _open_mes(folder: Path) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        (folder / "accounts.yaml").write_text("{}\n")
        d["mes"] = {"endpoint": "opc.tcp://10.0.0.5:4840", "accounts": str(folder / "accounts.yaml")}
    return mutate


SECURITY_BAD: list[tuple[str, Callable[[Path], Callable[[dict[str, Any]], None]], str, str]] = [
    ("real-device-scaled-time", lambda f: _real_welder(f, time_scale=5), "twin.time_scale", "must be 1"),
    ("deprecated-policy", lambda f: _real_welder(f, lambda s: s.update(policy="Basic256")),
     "devices.welder.real.security.policy", "Basic256 is not allowed"),
    ("none-policy", lambda f: _real_welder(f, lambda s: s.update(policy="None")),
     "devices.welder.real.security.policy", "None is not allowed"),
    ("unknown-policy", lambda f: _real_welder(f, lambda s: s.update(policy="Rot13")),
     "devices.welder.real.security.policy", "unknown security policy 'Rot13'"),
    ("inline-password", lambda f: _real_welder(f, lambda s: s["user"].update(password="hunter2")),
     "devices.welder.real.security.user.password", "never written in the description"),
    ("password-env-unset", lambda f: _real_welder(
        f, lambda s: s.update(user={"username": "cell", "password_env": "CELL_CONTROLLER_UNSET_PASSWORD"})),
     "devices.welder.real.security.user.password_env", "CELL_CONTROLLER_UNSET_PASSWORD is not set"),
    ("two-passwords", lambda f: _real_welder(f, lambda s: s["user"].update(password_env="HOME")),
     "devices.welder.real.security.user", "exactly one of password_env or password_file"),
    ("key-readable-by-others", lambda f: _real_welder(f, _key_readable_by_all),
     "devices.welder.real.security.private_key", "readable by others (mode 0644)"),
    ("certificate-missing", lambda f: _real_welder(f, lambda s: s.update(certificate=str(f / "nope.der"))),
     "devices.welder.real.security.certificate", "no such file"),
    ("trust-not-a-folder", lambda f: _real_welder(f, lambda s: s.update(trust=s["certificate"])),
     "devices.welder.real.security.trust", "not a folder"),
    ("unknown-security-key", lambda f: _real_welder(f, lambda s: s.update(cipher="rc4")),
     "devices.welder.real.security.cipher", "unknown key"),
    ("mes-open-without-security", _open_mes, "mes.security", "needs security"),
    ("hmi-tls-key-readable-by-others", lambda f: _hmi_tls(f, key_mode=0o644), "hmi.tls.private_key",
     "readable by others (mode 0644)"),
    ("hmi-tls-certificate-not-pem", lambda f: _hmi_tls(f, der=True), "hmi.tls.certificate", "not a PEM certificate"),
    ("hmi-open-without-accounts", lambda f: _hmi_tls(f, accounts=False), "hmi.bind",
     "needs accounts (an accounts file)"),
]


def _hmi_tls(folder: Path, key_mode: int = 0o600, der: bool = False, accounts: bool = True
             ) -> Callable[[dict[str, Any]], None]:
    """A mutation: the operator page on every address, with TLS keys made in `folder`."""
    from cell_controller.testing import tls_files

    certificate, key = tls_files(folder)
    key.chmod(key_mode)
    if der:
        certificate = folder / "cell.der"
        certificate.write_bytes(b"0\x82\x01\x00")
    (folder / "accounts.yaml").write_text("{}\n")

    def mutate(d: dict[str, Any]) -> None:
        d["hmi"] = {"bind": "0.0.0.0:8443", "tls": {"certificate": str(certificate), "private_key": str(key)}}
        if accounts:
            d["hmi"]["accounts"] = str(folder / "accounts.yaml")
    return mutate


def test_the_operator_page_defaults_to_loopback_and_opens_up_with_tls_and_accounts(tmp_path: Path) -> None:
    config = load_cell(REAL)
    assert (config.hmi.host, config.hmi.port, config.hmi.tls, config.hmi.accounts_path) == \
        ("127.0.0.1", 8080, None, None)
    assert config.hmi.session_timeout_s == 900.0
    opened = load_cell(edited(tmp_path, _hmi_tls(tmp_path))).hmi
    assert (opened.host, opened.port, opened.tls.certificate.name) == ("0.0.0.0", 8443, "hmi_cert.pem")


@pytest.mark.parametrize(("make", "key", "reason"), [b[1:] for b in SECURITY_BAD], ids=[b[0] for b in SECURITY_BAD])
def test_bad_security_names_file_key_and_reason(tmp_path: Path, make, key: str, reason: str) -> None:
    path = edited(tmp_path, make(tmp_path))
    with pytest.raises(ConfigError) as info:
        load_cell(path)
    assert (info.value.file, info.value.key) == (str(path), key)
    assert reason in info.value.reason, info.value.reason


def test_prices_convert_to_their_canonical_per_unit_and_the_description_may_price_nothing(tmp_path: Path) -> None:
    def per_mwh_and_m3(data: dict[str, Any]) -> None:
        data["costs"]["electricity"] = {"value": 220, "unit": "EUR/MWh"}
        data["costs"]["shielding_gas"] = {"value": 12, "unit": "EUR/m^3"}
        data["costs"]["wire_density"] = {"value": 7.85, "unit": "g/cm^3"}
    costs = load_cell(edited(tmp_path, per_mwh_and_m3)).costs
    assert costs is not None and costs.currency == "EUR"
    assert costs.electricity_per_kWh == pytest.approx(0.22) and costs.shielding_gas_per_L == pytest.approx(0.012)
    assert costs.wire_density_kg_m3 == pytest.approx(7850)
    assert load_cell(edited(tmp_path, _del("costs"))).costs is None


def test_each_bad_case_differs_from_a_valid_file(tmp_path: Path) -> None:
    """Guard against vacuous bad cases: the unmutated dump of the real file loads."""
    assert load_cell(write(tmp_path, real_data())).name == "weld_cell_1"


def test_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("cell: {name: [unclosed\n  devices: :\n")
    with pytest.raises(ConfigError) as info:
        load_cell(path)
    assert info.value.file == str(path)
    assert info.value.key == "(file)"
    assert "not valid YAML" in str(info.value)


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, ["cell", "devices"])
    with pytest.raises(ConfigError) as info:
        load_cell(path)
    assert info.value.key == "(top level)"
    assert "expected a mapping" in info.value.reason


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(ConfigError) as info:
        load_cell(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "cell.yaml"
    with pytest.raises(ConfigError) as info:
        load_cell(path)
    assert info.value.file == str(path)
    assert info.value.key == "(file)"
    assert "cannot read" in info.value.reason


# --------------------------------------------------------------------------- the config hash


def test_hash_is_stable_for_the_same_content(tmp_path: Path) -> None:
    original = load_cell(REAL).config_hash
    assert load_cell(REAL).config_hash == original
    # comments, layout and key order are not content
    reordered = dict(reversed(list(real_data().items())))
    assert load_cell(write(tmp_path, reordered)).config_hash == original
    assert len(original) == 16 and int(original, 16) >= 0


@pytest.mark.parametrize("mutate", [
    _set("procedure.voltage.value", 25),
    _set("devices.robot.limits.travel_speed.max", 11),
    _set("policies.weld", "other_policy"),
    _set("cell.seed", 8),
    _set("twin.time_scale", 4),
], ids=["procedure", "limit", "policy", "seed", "time_scale"])
def test_hash_changes_when_a_value_changes(tmp_path: Path, mutate) -> None:
    original = load_cell(REAL).config_hash
    assert load_cell(edited(tmp_path, mutate)).config_hash != original
