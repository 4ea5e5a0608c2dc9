"""The cell description: one YAML file read by the command line, the nodes and the launch file.

`load_cell(path)` validates the whole file at the boundary and returns frozen values in
the cell's canonical units (see `units.py`). Every problem raises `ConfigError` naming the
file, the dotted key and the reason; nothing is started before the file validates.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from .types import Backend, DeviceKind
from .units import CANONICAL, UnitError, speed_to_m_min, to_canonical


class ConfigError(ValueError):
    """The cell description is invalid; the message names the file, the key and why."""

    def __init__(self, file: str | Path, key: str, reason: str):
        self.file, self.key, self.reason = str(file), key, reason
        super().__init__(f"{file}: {key}: {reason}")


@dataclass(frozen=True)
class Limit:
    """An allowed range [low, high] in the quantity's canonical unit (see `unit`)."""

    low: float
    high: float
    unit: str

    def clamp(self, value: float) -> float:
        return min(max(value, self.low), self.high)

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


#: OPC UA security policies the cell speaks (SignAndEncrypt only): IEC 62541-7:2020 deprecates
#: Basic128Rsa15 and Basic256 (SHA-1), and None is for the twin on loopback alone
SECURITY_POLICIES = ("Basic256Sha256", "Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss")
DEPRECATED_POLICIES = ("None", "Basic128Rsa15", "Basic256")


@dataclass(frozen=True)
class UserToken:
    """How the cell logs in to a device: a username with its password from an environment variable
    or a file (never in the description), or an X.509 user certificate and its key."""

    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    certificate: Path | None = None
    private_key: Path | None = None

    def password(self) -> str | None:
        """The password, read now from its variable or file (None for a certificate token)."""

        if self.password_env is not None:
            return os.environ.get(self.password_env)
        if self.password_file is not None:
            return self.password_file.read_text().strip()
        return None


@dataclass(frozen=True)
class SecurityConfig:
    """An endpoint's OPC UA security: the policy (SignAndEncrypt), the cell's application certificate and
    key, the trust list (a folder of trusted certificates, CRLs in its `crl` subfolder) and, for a
    device, the user token the cell logs in with."""

    policy: str
    certificate: Path
    private_key: Path
    trust: Path | None
    user: UserToken | None


@dataclass(frozen=True)
class RealDeviceConfig:
    """The device on the shop floor: its endpoint, the cell's security towards it, the mapping of its
    address space onto the device spec (`opcua/mapping.py`; None: it serves the spec's own paths) and
    the ApplicationUri it must present (None: not checked). divergence_tolerance: process value path ->
    the largest recent RMS of twin − real (in the spec's unit of that value) before shadow warns of drift."""

    endpoint: str
    security: SecurityConfig
    mapping: Path | None = None
    application_uri: str | None = None
    divergence_tolerance: dict[str, float] = field(default_factory=dict)

    @property
    def host_port(self) -> tuple[str, int]:
        return host_port(self.endpoint)


@dataclass(frozen=True)
class DeviceConfig:
    """One device: `endpoint` is its twin's server (always served by `cell-twin`), `real` the device on the
    shop floor (needed for the real and shadow backends); `backend` is the one it starts with."""

    name: str
    kind: DeviceKind
    backend: Backend
    endpoint: str
    publishing_rate_Hz: float
    limits: dict[str, Limit]
    real: RealDeviceConfig | None = None

    @property
    def host_port(self) -> tuple[str, int]:
        return host_port(self.endpoint)


def host_port(endpoint: str) -> tuple[str, int]:
    """(host, port) of an opc.tcp URL; 4840, OPC UA's port, when it names none."""
    url = urlparse(endpoint)
    return url.hostname or "", url.port or 4840


@dataclass(frozen=True)
class PlantConfig:
    """The stand-in for the shop floor, `cell-twin --plant`: a second, separate twin with the physical
    parameters of a named reality-gap set (`sim/reality_gap.py`) serving every device's `real` endpoint.

    arc_from: where a plant welder takes the robot's arc and motion from: "twin" (the twin robot's server,
    a hardware-in-the-loop bench) or "plant" (its own robot). accounts_path / security: the plant servers'
    accounts and certificates (real endpoints are secured)."""

    parameter_set: str
    arc_from: str
    accounts_path: Path | None
    security: SecurityConfig | None


@dataclass(frozen=True)
class Procedure:
    """The welding procedure specification (WPS): the fixed recipe's setpoints."""

    voltage_V: float
    wire_feed_m_min: float
    travel_speed_mm_s: float
    current_A: float
    gas_flow_L_min: float
    torch_offset_mm: float = 0.0


@dataclass(frozen=True)
class PolicyConfig:
    weld: str
    feed: str
    control_rate_Hz: float
    #: largest change per second of each weld action, canonical units per second
    rate_limits_per_s: dict[str, float]


@dataclass(frozen=True)
class FeedingConfig:
    feed_interval_s: float
    buffer_capacity: int
    conveyor_speed_mm_s: float


@dataclass(frozen=True)
class SupervisorConfig:
    """Bounds of the supervisor's automatic suspensions, s of cell time."""

    #: no blank in the buffer for this long while a part should enter: Suspended (EquipmentStarved)
    starved_after_s: float
    #: the machine does not take parts (not in automatic mode) for this long: Suspended (EquipmentBlocked)
    blocked_after_s: float
    #: the planned cycle time per part (planning's ideal cycle, ISO 22400 PRI): MachDesignSpeed, shift deadlines
    ideal_cycle_s: float


@dataclass(frozen=True)
class EnergyConfig:
    """What the cell draws from the mains besides the arc, for energy and cost per part.

    power_source_efficiency: arc power / electrical power the power source draws while welding (1);
    welder_idle_power_W, robot_power_W: the power source with its arc off and the robot (drives and
    controller) while the cell is up, drawn over every part's cycle, W."""

    power_source_efficiency: float
    welder_idle_power_W: float
    robot_power_W: float


@dataclass(frozen=True)
class InspectionConfig:
    """How a weld is judged when the welder reports no ISO 5817 level of its own (policies/inspection.py).

    model: the inspector's name (INSPECTORS); a weld whose predicted P(worse than level C) lies within
    [review_low, review_high] is routed to manual inspection (`needs_inspection`), below it is good,
    above it defective."""

    model: str
    review_low: float
    review_high: float


#: the inspectors `inspection.model` may name
INSPECTORS = ("learned_inspection", "heat_input_rule")


@dataclass(frozen=True)
class CostsConfig:
    """Prices in one ISO 4217 `currency`, per the canonical unit each name carries, and the wire's size.

    Cost per part (core/costs.py): electricity per kWh drawn, wire per kg (from the wire feed, the
    wire's diameter, mm, and density, kg/m³), shielding gas per L, the blank's material per part that
    entered and was used up, a machine-hour rate (labour and overhead) per hour of cycle time, scrap
    handling per scrapped or defective part."""

    currency: str
    electricity_per_kWh: float
    wire_per_kg: float
    wire_diameter_mm: float
    wire_density_kg_m3: float
    shielding_gas_per_L: float
    blank_per_part: float
    machine_per_h: float
    scrap_handling_per_part: float


#: the cost keys of `costs:`, each with its per-units (unit -> factor to the canonical per-unit)
PRICE_UNITS: dict[str, dict[str, float]] = {
    "electricity": {"kWh": 1.0, "MWh": 1e-3, "Wh": 1e3},
    "wire": {"kg": 1.0, "t": 1e-3, "g": 1e3},
    "shielding_gas": {"L": 1.0, "m^3": 1e-3},
    "blank": {"part": 1.0},
    "machine_hour": {"h": 1.0, "min": 60.0},
    "scrap_handling": {"part": 1.0},
}
DENSITY_UNITS = {"kg/m^3": 1.0, "g/cm^3": 1000.0}
#: used where a description has no `energy:` section (an inverter power source and a 6 kg robot)
DEFAULT_ENERGY = EnergyConfig(power_source_efficiency=0.85, welder_idle_power_W=300.0, robot_power_W=500.0)
DEFAULT_INSPECTION = InspectionConfig("learned_inspection", review_low=0.1, review_high=0.8)


@dataclass(frozen=True)
class MesConfig:
    """The cell's northbound OPC UA server (PackML, OPC 30050) for MES and SCADA.

    accounts_path: the accounts file (roles, Argon2 hashes; `opcua/users.py`); None: anonymous
    sessions, all operators, allowed on a loopback endpoint only. security: None serves the None
    policy, allowed on loopback only."""

    endpoint: str
    accounts_path: Path | None
    security: SecurityConfig | None = None


@dataclass(frozen=True)
class TlsConfig:
    """A TLS server certificate chain and its private key, both PEM files."""

    certificate: Path
    private_key: Path


@dataclass(frozen=True)
class HmiConfig:
    """The operator page (`cellctl hmi`, nodes/hmi.py).

    host, port: where it listens (`bind`); server_names: the names browsers reach it by off loopback (any
    other Host is refused); accounts_path: the accounts file of who may log in (the same
    format as the northbound server's, `opcua/users.py`), None: nobody can log in, so nobody commands from
    the page; tls: None serves plain HTTP; session_timeout_s: a login ends after this long without a
    command or acknowledgement from it. Off loopback it needs TLS and at least one operator account
    (`hmi_bind_problem`)."""

    host: str = "127.0.0.1"
    port: int = 8080
    accounts_path: Path | None = None
    tls: TlsConfig | None = None
    session_timeout_s: float = 900.0
    #: the names the page is reached by besides its bind address (e.g. the cell PC's DNS name)
    server_names: tuple[str, ...] = ()


DEFAULT_HMI = HmiConfig()


def hmi_bind_problem(host: str, hmi: HmiConfig) -> str | None:
    """Why the operator page may not listen on `host` with `hmi`'s security (None: it may). Off loopback a
    stranger on the plant network reaches it: only over TLS, and only with accounts to log in with."""
    if is_loopback(host):
        return None
    missing = [what for what, absent in (("tls (a certificate and its key)", hmi.tls is None),
                                         ("accounts (an accounts file)", hmi.accounts_path is None)) if absent]
    return f"the page on {host} (not loopback) needs {' and '.join(missing)}" if missing else None


@dataclass(frozen=True)
class CellConfig:
    path: Path
    name: str
    namespace: str
    domain_id: int
    parts_per_shift: int
    journal_path: Path
    seed: int
    time_scale: float
    machine_cycle_s: float
    devices: dict[str, DeviceConfig]
    procedure: Procedure
    policies: PolicyConfig
    feeding: FeedingConfig
    supervisor: SupervisorConfig
    mes: MesConfig | None
    logs_path: Path
    config_hash: str
    plant: PlantConfig | None = None
    energy: EnergyConfig = DEFAULT_ENERGY
    #: None: the description prices nothing (cost per part is not reported)
    costs: CostsConfig | None = None
    inspection: InspectionConfig = DEFAULT_INSPECTION
    #: the twin's welder reports the twin's own ISO 5817 grading of each weld (an oracle no real power source
    #: has); False: it reports none, as a real one, and the cell judges its welds by inspection alone
    weld_grading: bool = True
    hmi: HmiConfig = DEFAULT_HMI
    #: a parameter file (sim/reality_gap.py, `cellctl calibrate` writes one): the twin welds as that plant;
    #: None: as its own models
    twin_parameters: Path | None = None

    def device(self, role: str) -> DeviceConfig:
        """The device playing `role` (robot, welder, machine or feeder)."""
        for device in self.devices.values():
            if device.kind.role == role:
                return device
        raise KeyError(role)


# What each device kind may limit, with the dimension of each limit.
LIMIT_DIMENSIONS: dict[str, dict[str, str]] = {
    "robot": {"travel_speed": "speed", "torch_offset": "length", "tcp_speed": "speed"},
    "welder": {"voltage": "voltage", "wire_feed": "speed", "current": "current", "gas_flow": "gas_flow"},
    "machine": {"cycle_time": "time"},
    "feeder": {"conveyor_speed": "speed", "buffer": "count"},
}
ROLES = ("robot", "welder", "machine", "feeder")
RATE_LIMIT_DIMENSIONS = {"voltage": "voltage", "wire_feed": "speed", "travel_speed": "speed", "torch_offset": "length"}
#: the publishing rates the bridges (subscriptions at twice the rate) and the twin's loop can serve, Hz
PUBLISHING_RATE_HZ = (1.0, 100.0)


def _is_wire_feed(key: str) -> bool:
    """Wire feed speeds (and their rate limits) are kept in m/min, as power sources show them."""
    return key.rsplit(".", 1)[-1].startswith("wire_feed")


class _Reader:
    """Walks the parsed YAML, converting values and naming the key in every error."""

    def __init__(self, file: Path):
        self.file = file

    def fail(self, key: str, reason: str) -> ConfigError:
        return ConfigError(self.file, key, reason)

    def section(self, data: Any, key: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(key, f"expected a mapping, got {type(data).__name__}")
        return data

    def get(self, data: dict[str, Any], parent: str, name: str, default: Any = ...) -> Any:
        if name not in data:
            if default is ...:
                raise self.fail(f"{parent}.{name}" if parent else name, "missing")
            return default
        return data[name]

    def reject_unknown(self, data: dict[str, Any], parent: str, known: set[str]) -> None:
        for name in data:
            if name not in known:
                key = f"{parent}.{name}" if parent else str(name)
                raise self.fail(key, f"unknown key (known: {', '.join(sorted(known))})")

    def number(self, value: Any, key: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, f"expected a finite number, got {value!r}")
        return float(value)

    def quantity(self, value: Any, key: str, dim: str) -> float:
        """`{value: x, unit: u}` converted to the canonical unit of `dim`."""
        if not isinstance(value, dict) or "unit" not in value:
            raise self.fail(key, f"needs a unit: write {{value: ..., unit: ...}} (got {value!r})")
        self.reject_unknown(value, key, {"value", "unit"})
        number = self.number(self.get(value, key, "value"), f"{key}.value")
        return self._convert(number, value["unit"], key, dim)

    def within(self, number: float, key: str, low: float, high: float, unit: str) -> float:
        """`number` when low <= number <= high; ConfigError naming the key and the range otherwise."""
        if not low <= number <= high:
            raise self.fail(key, f"expected {low:g}..{high:g} {unit}, got {number:g} {unit}")
        return number

    def limit(self, value: Any, key: str, dim: str) -> Limit:
        """`{min: a, max: b, unit: u}` converted to canonical units."""
        if not isinstance(value, dict) or "unit" not in value:
            raise self.fail(key, f"limit has no unit: write {{min: ..., max: ..., unit: ...}} (got {value!r})")
        self.reject_unknown(value, key, {"min", "max", "unit"})
        low = self._convert(self.number(self.get(value, key, "min"), f"{key}.min"), value["unit"], key, dim)
        high = self._convert(self.number(self.get(value, key, "max"), f"{key}.max"), value["unit"], key, dim)
        if low > high:
            raise self.fail(key, f"min {value['min']} is above max {value['max']}")
        unit = "m/min" if _is_wire_feed(key) else CANONICAL[dim]
        return Limit(low, high, unit)

    def _convert(self, number: float, unit: Any, key: str, dim: str) -> float:
        try:
            if _is_wire_feed(key):
                return speed_to_m_min(number, str(unit))
            return to_canonical(number, str(unit), dim)
        except UnitError as error:
            raise self.fail(f"{key}.unit", str(error)) from None


def read_yaml(file: Path) -> Any:
    """The parsed YAML of `file`; ConfigError (key "(file)") when it cannot be read or is not YAML."""
    try:
        text = file.read_text()
    except OSError as error:
        raise ConfigError(file, "(file)", f"cannot read: {error.strerror or error}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(file, "(file)", f"not valid YAML: {error}") from None


def load_cell(path: str | Path) -> CellConfig:
    """Read and validate a cell description; raise ConfigError naming file, key and reason."""
    file = Path(path)
    data = read_yaml(file)
    r = _Reader(file)
    data = r.section(data, "(top level)")
    r.reject_unknown(data, "", {"cell", "twin", "devices", "procedure", "policies", "feeding", "supervisor", "mes",
                                 "plant", "energy", "costs", "inspection", "hmi"})

    cell = r.section(r.get(data, "", "cell"), "cell")
    r.reject_unknown(cell, "cell", {"name", "namespace", "domain_id", "parts_per_shift", "journal", "logs", "seed"})
    namespace = str(r.get(cell, "cell", "namespace", "/"))
    if not namespace.startswith("/"):
        raise r.fail("cell.namespace", f"must start with '/', got {namespace!r}")
    parts = r.get(cell, "cell", "parts_per_shift", 20)
    if not isinstance(parts, int) or isinstance(parts, bool) or not 1 <= parts <= 1_000_000:
        raise r.fail("cell.parts_per_shift", f"expected a positive integer up to 1000000, got {parts!r}")
    domain_id = r.get(cell, "cell", "domain_id", 0)
    if not isinstance(domain_id, int) or isinstance(domain_id, bool) or not 0 <= domain_id <= 232:
        raise r.fail("cell.domain_id", f"expected an integer 0..232, got {domain_id!r}")
    seed = r.get(cell, "cell", "seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise r.fail("cell.seed", f"expected an integer, got {seed!r}")
    journal = _path(file, r.get(cell, "cell", "journal", "journal.sqlite"))
    logs = _path(file, r.get(cell, "cell", "logs", str(journal.parent / "logs")))

    twin = r.section(r.get(data, "", "twin", {}), "twin")
    r.reject_unknown(twin, "twin", {"time_scale", "machine_cycle", "weld_grading", "parameters"})
    twin_parameters = _file(r, file, "twin.parameters", twin["parameters"]) if twin.get("parameters") else None
    weld_grading = r.get(twin, "twin", "weld_grading", True)
    if not isinstance(weld_grading, bool):
        raise r.fail("twin.weld_grading", f"expected true or false, got {weld_grading!r}")
    time_scale = r.number(r.get(twin, "twin", "time_scale", 1.0), "twin.time_scale")
    if not 0.1 <= time_scale <= 100:
        raise r.fail("twin.time_scale", f"expected 0.1..100 twin seconds per wall second, got {time_scale}")
    machine_cycle_s = r.within(r.quantity(r.get(twin, "twin", "machine_cycle", {"value": 6, "unit": "s"}),
                                          "twin.machine_cycle", "time"), "twin.machine_cycle", 0.5, 3600.0, "s")

    devices = _devices(r, file, r.section(r.get(data, "", "devices"), "devices"))
    real = [f"{d.name} ({d.backend.value})" for d in devices.values() if d.backend.uses_real]
    if time_scale != 1.0 and real:
        raise r.fail("twin.time_scale", f"must be 1 when a device is real or shadow ({', '.join(real)}): "
                     "real devices run in real time")
    procedure = _procedure(r, r.section(r.get(data, "", "procedure"), "procedure"))
    policies = _policies(r, r.section(r.get(data, "", "policies", {}), "policies"))
    feeding = _feeding(r, r.section(r.get(data, "", "feeding", {}), "feeding"))
    supervisor = _supervisor(r, r.section(r.get(data, "", "supervisor", {}), "supervisor"))
    mes = _mes(r, file, r.section(data["mes"], "mes"), devices) if "mes" in data else None
    plant = _plant(r, file, r.section(data["plant"], "plant")) if "plant" in data else None
    energy = _energy(r, r.section(data["energy"], "energy")) if "energy" in data else DEFAULT_ENERGY
    costs = _costs(r, r.section(data["costs"], "costs")) if "costs" in data else None
    inspection = _inspection(r, r.section(data["inspection"], "inspection")) if "inspection" in data \
        else DEFAULT_INSPECTION
    hmi = _hmi(r, file, r.section(data["hmi"], "hmi"), devices, mes) if "hmi" in data else DEFAULT_HMI

    canonical = json.dumps(data, sort_keys=True, default=str).encode()
    return CellConfig(
        path=file.resolve(),
        name=str(r.get(cell, "cell", "name", "cell")),
        namespace=namespace,
        domain_id=domain_id,
        parts_per_shift=parts,
        journal_path=journal,
        seed=seed,
        time_scale=time_scale,
        machine_cycle_s=machine_cycle_s,
        devices=devices,
        procedure=procedure,
        policies=policies,
        feeding=feeding,
        supervisor=supervisor,
        mes=mes,
        logs_path=logs,
        config_hash=hashlib.sha256(canonical).hexdigest()[:16],
        plant=plant,
        energy=energy,
        costs=costs,
        inspection=inspection,
        hmi=hmi,
        weld_grading=weld_grading,
        twin_parameters=twin_parameters,
    )


def _path(file: Path, value: Any) -> Path:
    """A path of the description, relative to its folder unless absolute."""
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else (file.parent / path).resolve()


def _endpoint(r: _Reader, key: str, endpoint: Any) -> tuple[str, int]:
    """(host, port) of an opc.tcp://host:port endpoint; ConfigError naming the key otherwise."""
    url = urlparse(str(endpoint))
    try:
        port = url.port  # ValueError when not a number or out of range
    except ValueError:
        port = None
    if url.scheme != "opc.tcp" or not url.hostname or port is None:
        raise r.fail(key, f"expected opc.tcp://host:port, got {endpoint!r}")
    return url.hostname, port


def is_loopback(host: str) -> bool:
    """`host` is `localhost` or a loopback address (127.0.0.0/8, ::1); no other name is taken for one."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _same_listener(a: str, b: str) -> bool:
    """Two listeners on these hosts and one port would collide: the same address, or either a wildcard."""
    wildcard, local = ("0.0.0.0", "::", ""), {"localhost": "127.0.0.1"}
    return a in wildcard or b in wildcard or local.get(a, a) == local.get(b, b)


def _file(r: _Reader, file: Path, key: str, value: Any) -> Path:
    """A file the description names, which must exist and be readable."""
    path = _path(file, value)
    if not path.is_file():
        raise r.fail(key, f"{path}: no such file")
    try:
        path.open("rb").close()
    except OSError as error:
        raise r.fail(key, f"{path}: cannot read: {error.strerror}") from None
    return path


def _private_key(r: _Reader, file: Path, key: str, value: Any) -> Path:
    """A private key file, which must be readable by its owner alone (mode 0600 or stricter)."""
    path = _file(r, file, key, value)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise r.fail(key, f"{path}: a private key readable by others (mode {mode:04o}): chmod 600 {path}")
    return path


def _security(r: _Reader, file: Path, key: str, raw: Any, device: bool) -> SecurityConfig:
    raw = r.section(raw, key)
    r.reject_unknown(raw, key, {"policy", "certificate", "private_key", "trust", "user"} if device
                     else {"policy", "certificate", "private_key", "trust"})
    policy = str(r.get(raw, key, "policy"))
    if policy in DEPRECATED_POLICIES:
        raise r.fail(f"{key}.policy", f"{policy} is not allowed (deprecated or unsecured); use one of "
                     f"{', '.join(SECURITY_POLICIES)}")
    if policy not in SECURITY_POLICIES:
        raise r.fail(f"{key}.policy", f"unknown security policy {policy!r} (known: {', '.join(SECURITY_POLICIES)})")
    trust = None
    if raw.get("trust") is not None:
        trust = _path(file, raw["trust"])
        if not trust.is_dir():
            raise r.fail(f"{key}.trust", f"{trust}: not a folder (trusted certificates, CRLs in crl/)")
    return SecurityConfig(policy, _file(r, file, f"{key}.certificate", r.get(raw, key, "certificate")),
                          _private_key(r, file, f"{key}.private_key", r.get(raw, key, "private_key")), trust,
                          _user(r, file, f"{key}.user", raw["user"]) if raw.get("user") is not None else None)


def _user(r: _Reader, file: Path, key: str, raw: Any) -> UserToken:
    raw = r.section(raw, key)
    r.reject_unknown(raw, key, {"username", "password", "password_env", "password_file", "certificate", "private_key"})
    if "password" in raw:
        raise r.fail(f"{key}.password", "a password is never written in the description: "
                     "use password_env (an environment variable) or password_file (outside the repository)")
    if "certificate" in raw:
        return UserToken(certificate=_file(r, file, f"{key}.certificate", raw["certificate"]),
                         private_key=_private_key(r, file, f"{key}.private_key", r.get(raw, key, "private_key")))
    username = r.get(raw, key, "username")
    if not isinstance(username, str) or not username:
        raise r.fail(f"{key}.username", f"expected a user name, got {username!r}")
    if ("password_env" in raw) == ("password_file" in raw):
        raise r.fail(key, "give the password as exactly one of password_env or password_file")
    if "password_env" in raw:
        name = str(raw["password_env"])
        if name not in os.environ:
            raise r.fail(f"{key}.password_env", f"the environment variable {name} is not set")
        return UserToken(username=username, password_env=name)
    return UserToken(username=username, password_file=_private_key(r, file, f"{key}.password_file",
                                                                   raw["password_file"]))


def _mes(r: _Reader, file: Path, raw: dict[str, Any], devices: dict[str, DeviceConfig]) -> MesConfig:
    r.reject_unknown(raw, "mes", {"endpoint", "accounts", "security"})
    endpoint = r.get(raw, "mes", "endpoint")
    host, port = _endpoint(r, "mes.endpoint", endpoint)
    for device in devices.values():
        if (host, port) in (device.host_port, device.real.host_port if device.real else None):
            raise r.fail("mes.endpoint", f"{endpoint} is already used by devices.{device.name}")
    accounts = _path(file, raw["accounts"]) if raw.get("accounts") else None
    security = _security(r, file, "mes.security", raw["security"], device=False) if raw.get("security") else None
    if not is_loopback(host):
        if accounts is None:
            raise r.fail("mes.accounts", f"a northbound server on {host} (not loopback) needs an accounts file: "
                         "anonymous operators are allowed on loopback only")
        if security is None:
            raise r.fail("mes.security", f"a northbound server on {host} (not loopback) needs security: "
                         "the None policy is allowed on loopback only")
    return MesConfig(str(endpoint), accounts, security)


def _devices(r: _Reader, file: Path, section: dict[str, Any]) -> dict[str, DeviceConfig]:
    devices: dict[str, DeviceConfig] = {}
    endpoints: dict[tuple[str, int], str] = {}

    def claim(key: str, endpoint: Any) -> None:
        where = _endpoint(r, key, endpoint)
        if where in endpoints:
            raise r.fail(key, f"{endpoint} is already used by {endpoints[where]}")
        endpoints[where] = key

    for name, raw in section.items():
        key = f"devices.{name}"
        raw = r.section(raw, key)
        if "security" in raw:
            raise r.fail(f"{key}.security", "security is for the real device: move it to "
                         f"{key}.real.security (the twin at {key}.endpoint serves on loopback without it)")
        r.reject_unknown(raw, key, {"kind", "backend", "endpoint", "publishing_rate", "limits", "real"})
        kind_name = r.get(raw, key, "kind")
        try:
            kind = DeviceKind(kind_name)
        except ValueError:
            known = ", ".join(k.value for k in DeviceKind)
            raise r.fail(f"{key}.kind", f"unknown device kind {kind_name!r} (known: {known})") from None
        backend = _backend(r, f"{key}.backend", r.get(raw, key, "backend", "twin"))
        endpoint = r.get(raw, key, "endpoint")
        claim(f"{key}.endpoint", endpoint)
        rate = r.within(r.quantity(r.get(raw, key, "publishing_rate", {"value": 50, "unit": "Hz"}),
                                   f"{key}.publishing_rate", "frequency"), f"{key}.publishing_rate",
                        *PUBLISHING_RATE_HZ, "Hz")
        allowed = LIMIT_DIMENSIONS[kind.role]
        limits_raw = r.section(r.get(raw, key, "limits", {}), f"{key}.limits")
        r.reject_unknown(limits_raw, f"{key}.limits", set(allowed))
        limits = {k: r.limit(v, f"{key}.limits.{k}", allowed[k]) for k, v in limits_raw.items()}
        real = None
        if raw.get("real") is not None:
            real_raw = r.section(raw["real"], f"{key}.real")
            claim(f"{key}.real.endpoint", r.get(real_raw, f"{key}.real", "endpoint"))
            real = _real(r, file, f"{key}.real", real_raw)
        elif backend.uses_real:
            raise r.fail(f"{key}.real", f"missing: backend {backend.value} needs the real device (endpoint, "
                         "security, optionally mapping and application_uri)")
        devices[name] = DeviceConfig(name, kind, backend, str(endpoint), rate, limits, real)
    for role in ROLES:
        holders = [d.name for d in devices.values() if d.kind.role == role]
        if len(holders) != 1:
            reason = "no device plays this role" if not holders else f"several devices play it: {holders}"
            raise r.fail(f"devices ({role})", f"a cell needs exactly one {role}; {reason}")
    return devices


def _backend(r: _Reader, key: str, name: Any) -> Backend:
    try:
        return Backend(name)
    except ValueError:
        known = ", ".join(repr(b.value) for b in Backend)
        raise r.fail(key, f"expected one of {known}, got {name!r}") from None


def _real(r: _Reader, file: Path, key: str, raw: dict[str, Any]) -> RealDeviceConfig:
    r.reject_unknown(raw, key, {"endpoint", "security", "mapping", "application_uri", "divergence_tolerance"})
    endpoint = str(r.get(raw, key, "endpoint"))
    if raw.get("security") is None:
        raise r.fail(f"{key}.security", "missing: a real device is connected with SignAndEncrypt security "
                     "only (policy, the cell's certificate and key, trust, user)")
    security = _security(r, file, f"{key}.security", raw["security"], device=True)
    mapping = _file(r, file, f"{key}.mapping", raw["mapping"]) if raw.get("mapping") is not None else None
    uri = raw.get("application_uri")
    if uri is not None and (not isinstance(uri, str) or not uri):
        raise r.fail(f"{key}.application_uri", f"expected a URI, got {uri!r}")
    tolerances_raw = r.section(raw.get("divergence_tolerance") or {}, f"{key}.divergence_tolerance")
    tolerances = {}
    for path, value in tolerances_raw.items():
        tolerance = r.number(value, f"{key}.divergence_tolerance.{path}")
        if not tolerance > 0:
            raise r.fail(f"{key}.divergence_tolerance.{path}", f"expected a tolerance > 0, got {tolerance}")
        tolerances[str(path)] = tolerance
    return RealDeviceConfig(endpoint, security, mapping, uri, tolerances)


#: where a plant welder takes the robot's arc and motion from (`PlantConfig.arc_from`)
ARC_SOURCES = ("twin", "plant")


def _plant(r: _Reader, file: Path, raw: dict[str, Any]) -> PlantConfig:
    r.reject_unknown(raw, "plant", {"parameter_set", "arc_from", "accounts", "security"})
    parameter_set = r.get(raw, "plant", "parameter_set", "near")
    if not isinstance(parameter_set, str):
        raise r.fail("plant.parameter_set", f"expected the name of a reality-gap set, got {parameter_set!r}")
    arc_from = r.get(raw, "plant", "arc_from", "twin")
    if arc_from not in ARC_SOURCES:
        raise r.fail("plant.arc_from", f"expected one of {', '.join(ARC_SOURCES)}, got {arc_from!r}")
    accounts = _file(r, file, "plant.accounts", raw["accounts"]) if raw.get("accounts") else None
    security = _security(r, file, "plant.security", raw["security"], device=False) if raw.get("security") else None
    return PlantConfig(parameter_set, arc_from, accounts, security)


def _procedure(r: _Reader, raw: dict[str, Any]) -> Procedure:
    dims = {"voltage": "voltage", "wire_feed": "speed", "travel_speed": "speed", "current": "current",
            "gas_flow": "gas_flow", "torch_offset": "length"}
    r.reject_unknown(raw, "procedure", set(dims))
    v = {k: r.quantity(raw[k], f"procedure.{k}", dims[k]) for k in raw}
    for required in ("voltage", "wire_feed", "travel_speed", "current", "gas_flow"):
        if required not in v:
            raise r.fail(f"procedure.{required}", "missing")
    return Procedure(v["voltage"], v["wire_feed"], v["travel_speed"], v["current"], v["gas_flow"],
                     v.get("torch_offset", 0.0))


def _policies(r: _Reader, raw: dict[str, Any]) -> PolicyConfig:
    r.reject_unknown(raw, "policies", {"weld", "feed", "control_rate", "rate_limits"})
    limits_raw = r.section(r.get(raw, "policies", "rate_limits", {}), "policies.rate_limits")
    r.reject_unknown(limits_raw, "policies.rate_limits", {f"{k}_per_s" for k in RATE_LIMIT_DIMENSIONS})
    rate_limits = {
        k.removesuffix("_per_s"): r.within(
            r.quantity(v, f"policies.rate_limits.{k}", RATE_LIMIT_DIMENSIONS[k.removesuffix("_per_s")]),
            f"policies.rate_limits.{k}", 1e-6, 1e4, "per s")
        for k, v in limits_raw.items()
    }
    return PolicyConfig(
        weld=str(r.get(raw, "policies", "weld", "fixed_recipe")),
        feed=str(r.get(raw, "policies", "feed", "fixed_rate")),
        control_rate_Hz=r.within(r.quantity(r.get(raw, "policies", "control_rate", {"value": 20, "unit": "Hz"}),
                                            "policies.control_rate", "frequency"), "policies.control_rate",
                                 1.0, 1000.0, "Hz"),
        rate_limits_per_s=rate_limits,
    )


def _feeding(r: _Reader, raw: dict[str, Any]) -> FeedingConfig:
    r.reject_unknown(raw, "feeding", {"feed_interval", "buffer_capacity", "conveyor_speed"})
    capacity = r.quantity(r.get(raw, "feeding", "buffer_capacity", {"value": 3, "unit": "parts"}),
                          "feeding.buffer_capacity", "count")
    if capacity != int(capacity) or not 1 <= capacity <= 50:
        raise r.fail("feeding.buffer_capacity", f"expected a whole number of parts, 1..50, got {capacity}")
    return FeedingConfig(
        feed_interval_s=r.within(r.quantity(r.get(raw, "feeding", "feed_interval", {"value": 40, "unit": "s"}),
                                            "feeding.feed_interval", "time"), "feeding.feed_interval", 0.5, 3600.0, "s"),
        buffer_capacity=int(capacity),
        conveyor_speed_mm_s=r.within(
            r.quantity(r.get(raw, "feeding", "conveyor_speed", {"value": 250, "unit": "mm/s"}),
                       "feeding.conveyor_speed", "speed"), "feeding.conveyor_speed", 0.0, 1000.0, "mm/s"),
    )


def _supervisor(r: _Reader, raw: dict[str, Any]) -> SupervisorConfig:
    r.reject_unknown(raw, "supervisor", {"starved_after", "blocked_after", "ideal_cycle"})
    bounds = {}
    for key, default in (("starved_after", 60.0), ("blocked_after", 10.0), ("ideal_cycle", 30.0)):
        seconds = r.quantity(r.get(raw, "supervisor", key, {"value": default, "unit": "s"}), f"supervisor.{key}", "time")
        bounds[f"{key}_s"] = r.within(seconds, f"supervisor.{key}", 0.1, 3600.0, "s")
    return SupervisorConfig(**bounds)


def _energy(r: _Reader, raw: dict[str, Any]) -> EnergyConfig:
    r.reject_unknown(raw, "energy", {"power_source_efficiency", "welder_idle_power", "robot_power"})
    efficiency = r.within(r.number(r.get(raw, "energy", "power_source_efficiency"), "energy.power_source_efficiency"),
                          "energy.power_source_efficiency", 0.05, 1.0, "(arc power / power drawn)")
    power_W = {key: r.within(r.quantity(r.get(raw, "energy", key), f"energy.{key}", "power"), f"energy.{key}",
                             0.0, 1e6, "W") for key in ("welder_idle_power", "robot_power")}
    return EnergyConfig(efficiency, power_W["welder_idle_power"], power_W["robot_power"])


def _inspection(r: _Reader, raw: dict[str, Any]) -> InspectionConfig:
    r.reject_unknown(raw, "inspection", {"model", "review_band"})
    model = r.get(raw, "inspection", "model", DEFAULT_INSPECTION.model)
    if model not in INSPECTORS:
        raise r.fail("inspection.model", f"unknown inspector {model!r} (known: {', '.join(INSPECTORS)})")
    band = r.get(raw, "inspection", "review_band",
                 {"min": DEFAULT_INSPECTION.review_low, "max": DEFAULT_INSPECTION.review_high})
    if not isinstance(band, dict) or set(band) != {"min", "max"}:
        raise r.fail("inspection.review_band", f"expected {{min: P, max: P}} (probabilities 0..1), got {band!r}")
    low, high = (r.within(r.number(band[k], f"inspection.review_band.{k}"), f"inspection.review_band.{k}",
                          0.0, 1.0, "(a probability)") for k in ("min", "max"))
    if low > high:
        raise r.fail("inspection.review_band", f"min {low:g} is above max {high:g}")
    return InspectionConfig(model, low, high)


def _hmi(r: _Reader, file: Path, raw: dict[str, Any], devices: dict[str, DeviceConfig],
         mes: MesConfig | None) -> HmiConfig:
    r.reject_unknown(raw, "hmi", {"bind", "accounts", "tls", "session_timeout", "server_names"})
    bind = str(r.get(raw, "hmi", "bind", f"{DEFAULT_HMI.host}:{DEFAULT_HMI.port}"))
    host, port = parse_bind(bind, lambda reason: r.fail("hmi.bind", reason))
    taken = [(d.host_port, f"devices.{d.name}") for d in devices.values()]
    taken += [(_endpoint(r, "mes.endpoint", mes.endpoint), "mes.endpoint")] if mes else []
    for (other_host, other_port), key in taken:
        if other_port == port and _same_listener(other_host, host):
            raise r.fail("hmi.bind", f"port {port} is already used by {key}")
    names = r.get(raw, "hmi", "server_names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and 0 < len(n) <= 253 for n in names):
        raise r.fail("hmi.server_names", f"expected a list of host names, got {names!r}")
    tls = None
    if raw.get("tls") is not None:
        section = r.section(raw["tls"], "hmi.tls")
        r.reject_unknown(section, "hmi.tls", {"certificate", "private_key"})
        certificate = _file(r, file, "hmi.tls.certificate", r.get(section, "hmi.tls", "certificate"))
        if not certificate.read_bytes()[:64].lstrip().startswith(b"-----BEGIN"):
            raise r.fail("hmi.tls.certificate", f"{certificate}: not a PEM certificate (a DER one converts with "
                         f"openssl x509 -inform der -in {certificate.name} -out {certificate.stem}.pem)")
        tls = TlsConfig(certificate,
                        _private_key(r, file, "hmi.tls.private_key", r.get(section, "hmi.tls", "private_key")))
    accounts = _file(r, file, "hmi.accounts", raw["accounts"]) if raw.get("accounts") else None
    timeout_s = r.within(r.quantity(r.get(raw, "hmi", "session_timeout", {"value": 15, "unit": "min"}),
                                    "hmi.session_timeout", "time"), "hmi.session_timeout", 1.0, 86400.0, "s")
    hmi = HmiConfig(host, port, accounts, tls, timeout_s, tuple(names))
    problem = hmi_bind_problem(host, hmi)
    if problem:
        raise r.fail("hmi.bind", problem)
    return hmi


def parse_bind(text: str, fail: Callable[[str], Exception]) -> tuple[str, int]:
    """(host, port) of an `ADDR:PORT` bind address (IPv6 in brackets); `fail(reason)` is raised otherwise."""
    host, colon, port_text = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise fail(f"expected ADDR:PORT (e.g. 127.0.0.1:8080) with a port 1..65535, got {text!r}")
    return host, int(port_text)


def _currency(r: _Reader, key: str, code: Any) -> str:
    """An ISO 4217 alphabetic code (EUR, USD, JPY, ...)."""
    import pycountry  # only descriptions with costs need it

    if not isinstance(code, str) or len(code) != 3 or pycountry.currencies.get(alpha_3=code.upper()) is None:
        raise r.fail(key, f"unknown currency {code!r}: expected an ISO 4217 code such as EUR, USD or JPY")
    if code != code.upper():
        raise r.fail(key, f"write the ISO 4217 code in capitals: {code.upper()!r}")
    return code


def _price(r: _Reader, raw: dict[str, Any], name: str, currency: str) -> float:
    """`costs.<name>`: `{value: x, unit: <currency>/<per-unit>}`, in `currency` per the canonical per-unit."""
    key = f"costs.{name}"
    value = r.get(raw, "costs", name)
    per_units = PRICE_UNITS[name]
    example = f"{currency}/{next(iter(per_units))}"
    if not isinstance(value, dict) or "unit" not in value:
        raise r.fail(key, f"needs a unit with the currency: write {{value: ..., unit: {example}}} (got {value!r})")
    r.reject_unknown(value, key, {"value", "unit"})
    price = r.number(r.get(value, key, "value"), f"{key}.value")
    if price < 0:
        raise r.fail(f"{key}.value", f"a price cannot be negative, got {price:g}")
    money, _, per = str(value["unit"]).partition("/")
    if not per:
        raise r.fail(f"{key}.unit", f"needs the currency and what it is per, e.g. {example} (got {value['unit']!r})")
    if money != currency:
        raise r.fail(f"{key}.unit", f"the currency is {money!r} but costs.currency is {currency!r}: "
                     "give every price in the one currency")
    if per not in per_units:
        raise r.fail(f"{key}.unit", f"{name} is priced per {', '.join(per_units)}, got per {per!r}")
    return price * per_units[per]


def _costs(r: _Reader, raw: dict[str, Any]) -> CostsConfig:
    r.reject_unknown(raw, "costs", {"currency", "wire_diameter", "wire_density", *PRICE_UNITS})
    currency = _currency(r, "costs.currency", r.get(raw, "costs", "currency"))
    prices = {name: _price(r, raw, name, currency) for name in PRICE_UNITS}
    diameter_mm = r.within(r.quantity(r.get(raw, "costs", "wire_diameter"), "costs.wire_diameter", "length"),
                           "costs.wire_diameter", 0.5, 3.0, "mm")
    density = r.get(raw, "costs", "wire_density")
    if not isinstance(density, dict) or density.get("unit") not in DENSITY_UNITS:
        raise r.fail("costs.wire_density", f"write {{value: ..., unit: {' | '.join(DENSITY_UNITS)}}} (got {density!r})")
    r.reject_unknown(density, "costs.wire_density", {"value", "unit"})
    density_kg_m3 = r.within(r.number(r.get(density, "costs.wire_density", "value"), "costs.wire_density.value")
                             * DENSITY_UNITS[density["unit"]], "costs.wire_density", 500.0, 25000.0, "kg/m^3")
    return CostsConfig(
        currency=currency, electricity_per_kWh=prices["electricity"], wire_per_kg=prices["wire"],
        wire_diameter_mm=diameter_mm, wire_density_kg_m3=density_kg_m3,
        shielding_gas_per_L=prices["shielding_gas"], blank_per_part=prices["blank"],
        machine_per_h=prices["machine_hour"], scrap_handling_per_part=prices["scrap_handling"],
    )
