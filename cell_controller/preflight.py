"""Everything checked before a cell starts: the description against the devices' address spaces, and
every endpoint. `cellctl check`, `cellctl shift`, the launch file and `cell-twin` run these checks, so
a description that would fail later is refused up front, naming the file and the key.

`check_description` (no network): every device limit inside the EURange of the setpoint it bounds,
the welding procedure and the feeding inside the device limits (and so inside what the twin's
physics takes), the machine's cycle inside its limit, the policies known and their model files
readable, and endpoints compared after resolving host
names (`localhost` and `127.0.0.1` are one endpoint), unsecured twin and northbound endpoints on
loopback only, every certificate, key and trust list readable and the cell's certificate valid now. `preflight` adds the network: real devices must answer, the cell's own ports free.
"""
from __future__ import annotations

import socket
from urllib.parse import urlparse

from cell_controller.bridges import SETPOINTS
from cell_controller.core.config import CellConfig, ConfigError, Limit
from cell_controller.opcua.address_space import spec_for
from cell_controller.opcua.security import SecurityFileError, check_files
from cell_controller.policies.registry import check_policies

#: procedure field -> (its key in the description, the setpoint it loads or None, (role, limit) otherwise)
_PROCEDURE = {
    "voltage_V": ("voltage", "voltage_V"), "wire_feed_m_min": ("wire_feed", "wire_feed_m_min"),
    "travel_speed_mm_s": ("travel_speed", "travel_speed_mm_s"), "torch_offset_mm": ("torch_offset", "torch_offset_mm"),
    "gas_flow_L_min": ("gas_flow", "gas_flow_L_min"), "current_A": ("current", None),
}


class PreflightError(ValueError):
    """An endpoint that cannot be used now (unreachable, or its port taken); the message names the key."""


def _resolve(host: str) -> set[str]:
    """The addresses `host` stands for (empty when it does not resolve)."""
    try:
        return {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}
    except (socket.gaierror, UnicodeError):
        return set()


def _loopback(addresses: set[str]) -> bool:
    return bool(addresses) and all(a.startswith("127.") or a == "::1" for a in addresses)


def check_description(config: CellConfig) -> None:
    """Refuse a description that would fail once started (ConfigError naming file, key and reason)."""
    def fail(key: str, reason: str) -> ConfigError:
        return ConfigError(config.path, key, reason)

    devices = {role: config.device(role) for role in ("robot", "welder", "machine", "feeder")}
    for field, setpoint in SETPOINTS.items():
        device = devices[setpoint.role]
        var = spec_for(device.kind.value).variable(setpoint.path)
        limit = device.limits.get(setpoint.limit)
        key = f"devices.{device.name}.limits.{setpoint.limit}"
        if limit is not None and var.range is not None and not (var.range.contains(limit.low)
                                                                and var.range.contains(limit.high)):
            raise fail(key, f"{limit.low:g}..{limit.high:g} {limit.unit} is outside what the device takes "
                            f"({setpoint.path}: {var.range.low:g}..{var.range.high:g} {var.unit.display})")
    values = [(f"procedure.{key}", getattr(config.procedure, field), setpoint)
              for field, (key, setpoint) in _PROCEDURE.items()]
    values.append(("feeding.conveyor_speed", config.feeding.conveyor_speed_mm_s, "conveyor_speed_mm_s"))
    for key, value, setpoint_name in values:
        setpoint = SETPOINTS.get(setpoint_name or "")
        role, limit_name = (setpoint.role, setpoint.limit) if setpoint else ("welder", "current")
        device = devices[role]
        if setpoint is not None:
            var = spec_for(device.kind.value).variable(setpoint.path)
            if var.range is not None and not var.range.contains(value):
                raise fail(key, f"{value:g} is outside what the {role} takes ({var.range.low:g}..{var.range.high:g})")
        _inside(fail, key, value, device.limits.get(limit_name), f"devices.{device.name}.limits.{limit_name}")
    check_policies(config)
    machine = devices["machine"]
    _inside(fail, "twin.machine_cycle", config.machine_cycle_s, machine.limits.get("cycle_time"),
            f"devices.{machine.name}.limits.cycle_time")
    _check_endpoints(config, fail)
    _check_security(config, fail)
    _check_real_devices(config, fail)


def _check_real_devices(config: CellConfig, fail) -> None:
    """Tolerances name process values of the device's spec; the plant's reality gap is a known set;
    a mapping file fits the device's spec."""
    from cell_controller.bridges.base import process_signals
    from cell_controller.opcua.mapping import load_mapping
    from cell_controller.sim.reality_gap import GAPS, read_parameters

    if config.twin_parameters is not None:
        read_parameters(config.twin_parameters)  # ConfigError naming the parameter file and its key
    for device in config.devices.values():
        if device.real is None:
            continue
        spec = spec_for(device.kind.value)
        signals = {v.path for v in process_signals(spec)}
        for path in device.real.divergence_tolerance:
            if path not in signals:
                raise fail(f"devices.{device.name}.real.divergence_tolerance.{path}",
                           f"not a process value of the {device.kind.value} (known: {', '.join(sorted(signals))})")
        if device.real.mapping is not None:
            load_mapping(device.real.mapping, spec)  # ConfigError naming the mapping file and its key
    if config.plant is not None and config.plant.parameter_set not in GAPS:
        raise fail("plant.parameter_set", f"unknown reality-gap set {config.plant.parameter_set!r} "
                                          f"(known: {', '.join(GAPS)})")


def _check_security(config: CellConfig, fail) -> None:
    """Every certificate, key and trust list parses now and the cell's certificate is valid today."""
    sections = [(f"devices.{d.name}.real.security", d.real.security) for d in config.devices.values() if d.real]
    if config.mes is not None:
        sections.append(("mes.security", config.mes.security))
    if config.plant is not None:
        sections.append(("plant.security", config.plant.security))
    for key, security in sections:
        if security is not None:
            try:
                check_files(security)
            except SecurityFileError as error:
                raise fail(key, str(error)) from None


def _inside(fail, key: str, value: float, limit: Limit | None, limit_key: str) -> None:
    if limit is not None and not limit.contains(value):
        raise fail(key, f"{value:g} {limit.unit} is outside {limit_key} ({limit.low:g}..{limit.high:g} {limit.unit})")


def _check_endpoints(config: CellConfig, fail) -> None:
    seen: dict[tuple[str, int], str] = {}
    endpoints = [(f"devices.{d.name}.endpoint", d.endpoint, True) for d in config.devices.values()]
    endpoints += [(f"devices.{d.name}.real.endpoint", d.real.endpoint, False) for d in config.devices.values() if d.real]
    if config.mes is not None:
        anonymous_or_open = config.mes.accounts_path is None or config.mes.security is None
        endpoints.append(("mes.endpoint", config.mes.endpoint, anonymous_or_open))
    for key, endpoint, must_be_loopback in endpoints:
        url = urlparse(endpoint)
        host, port = url.hostname or "", url.port or 4840
        addresses = _resolve(host)
        if must_be_loopback and not _loopback(addresses):
            raise fail(key, f"{host!r} is not a loopback address: unsecured endpoints (the twin's, an "
                            "anonymous northbound server) serve on loopback only")
        for address in addresses or {host}:
            other = seen.get((address, port))
            if other is not None and other != key:
                raise fail(key, f"{endpoint} is the same endpoint as {other} ({address}:{port})")
            seen[(address, port)] = key


def port_open(host: str, port: int, timeout_s: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def preflight(config: CellConfig) -> None:
    """`check_description`, then every endpoint: real ones must answer, the cell's own must be free (the
    twin's, the northbound server's, and the real ones when the description's plant serves them)."""
    check_description(config)
    own = [(f"devices.{d.name}.endpoint", d.host_port) for d in config.devices.values()]
    if config.plant is not None:
        own += [(f"devices.{d.name}.real.endpoint", d.real.host_port) for d in config.devices.values() if d.real]
    if config.mes is not None:
        url = urlparse(config.mes.endpoint)
        own.append(("mes.endpoint", (url.hostname or "", url.port or 4840)))
    for key, (host, port) in own:
        if port_open(host, port, 0.2):
            raise PreflightError(f"{config.path}: {key}: port {port} is already in use (another cell running?)")
    for device in config.devices.values():
        if device.backend.uses_real and config.plant is None and not port_open(*device.real.host_port, 2.0):
            raise PreflightError(f"{config.path}: devices.{device.name}.real.endpoint: {device.real.endpoint} is "
                                 "unreachable (no OPC UA server answers)")
