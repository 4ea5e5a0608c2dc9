"""Declarative address spaces of the cell's four device kinds (plain data, no asyncua).

One `DeviceSpec` describes everything a bridge may touch on a device: variables
(browse path, data type, unit, range, writability) and methods (arguments). The
same spec builds the twin's server (`opcua.server.DeviceServer`), drives the
client (`opcua.client.DeviceClient`) and is what `opcua.checker` probes a real
device against.

Paths are ``"A/B/C"`` strings of browse names below the Objects folder; every
browse name lives in the device kind's own namespace (``spec.namespace_uri``).
Each path is declared once, as a class attribute of its device kind's namespace
(`RobotPaths`, `WelderPaths`, `MachinePaths`, `FeederPaths`, `TwinControlPaths`;
the shared Watchdog's as the ``WATCHDOG_*``/``*_HEARTBEAT`` constants), which the
spec builders, the twin, the plant and the bridges all use; each enumeration's
member names are declared once in its `EnumSpec` and named by constants beside it
(e.g. ``FEEDER_JAMMED``).
The names and nesting follow the companion specifications (OPC 40010 Robotics,
OPC 40450 Joining Systems, OPC 40501/40503 Machine Tools / Metal Forming), but we
do not load their NodeSets: our nodes use generic object types and our namespace.

Units are UNECE Recommendation 20 common codes, as OPC UA Part 8 (EUInformation,
namespace ``UNECE_NAMESPACE``) prescribes; ranges are EURange (low, high) in that unit.

Enumerations are declared as `EnumSpec` and served as Enumeration DataTypes (a
subtype of ns=0 Enumeration with an EnumStrings property and a DataTypeDefinition);
their values travel as Int32 (the index into `EnumSpec.values`). asyncua handles
Int32-encoded enums natively on both sides, and a generic client needs no type
dictionary to read them.

Every method returns two output arguments: ``Status`` (Int32, `COMMAND_STATUS`): 0 Accepted,
or why the device refused the command; and ``Reason`` (String): the device's words for it.

Every device has a `Watchdog` object (`watchdog_variables`): the device's own life-sign counter,
which it increments every publishing period (a client measures the age of the device's data by
it, even when no process value changes), and the controller's heartbeat, which the cell's bridge
writes while the supervisor lives; when it has not changed for `Timeout`, the device goes to its
safe state by itself (arc off, robot and conveyor stopped), as a cell PLC's watchdog would.

The twin serves a `TwinControl` object besides (`twin_control_methods`): methods that stand for
what happens on the shop floor (an emergency stop pressed, a door opened, the machine set to
setup mode, the blank supply cut). Real devices have no such object; bridges never touch it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

UNECE_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"
NAMESPACE_PREFIX = "urn:cell-controller:"

SCALAR_TYPES = ("Boolean", "Int32", "UInt32", "Double", "String")


@dataclass(frozen=True)
class Unit:
    """An engineering unit: UNECE common code (e.g. "MMT") and display name (e.g. "mm")."""

    code: str
    display: str
    description: str

    @property
    def unit_id(self) -> int:
        """The EUInformation.UnitId of OPC UA Part 8: the code's ASCII bytes packed big-endian."""
        value = 0
        for char in self.code:
            value = (value << 8) | ord(char)
        return value


MM = Unit("MMT", "mm", "millimetre")
MM_S = Unit("C16", "mm/s", "millimetre per second")
DEG = Unit("DD", "deg", "degree [unit of angle]")
DEG_S = Unit("E96", "deg/s", "degree per second")
AMPERE = Unit("AMP", "A", "ampere")
VOLT = Unit("VLT", "V", "volt")
WATT = Unit("WTT", "W", "watt")
KILOJOULE = Unit("KJO", "kJ", "kilojoule")
SECOND = Unit("SEC", "s", "second")
M_MIN = Unit("2X", "m/min", "metre per minute")
L_MIN = Unit("L2", "l/min", "litre per minute")
ONE = Unit("C62", "1", "one (dimensionless)")


@dataclass(frozen=True)
class Range:
    """An EURange: the physically meaningful interval [low, high] in the variable's unit."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"Range low {self.low} must be below high {self.high}")

    def contains(self, value: float) -> bool:
        """True when low <= value <= high."""
        return self.low <= value <= self.high


@dataclass(frozen=True)
class EnumSpec:
    """An enumeration DataType; the value of member ``values[i]`` is ``i`` (Int32 on the wire)."""

    name: str
    values: tuple[str, ...]

    def index(self, member: str) -> int:
        """The Int32 value of `member`; ValueError names the enum when unknown."""
        try:
            return self.values.index(member)
        except ValueError:
            raise ValueError(f"{member!r} is not a member of {self.name} {self.values}") from None


DataType = Union[str, EnumSpec]
"""A scalar type name from SCALAR_TYPES, or an enumeration."""


def _check_data_type(where: str, data_type: DataType) -> None:
    if isinstance(data_type, str) and data_type not in SCALAR_TYPES:
        raise ValueError(f"{where}: data type {data_type!r} not in {SCALAR_TYPES}")


@dataclass(frozen=True)
class VariableSpec:
    """One variable: path, type, and for analog items (those with a unit) unit and EURange.

    `initial` is the value the server starts with (None: the type's zero value).
    Writable variables are setpoints a client (a bridge) may write.
    """

    path: str
    data_type: DataType
    unit: Unit | None = None
    range: Range | None = None
    writable: bool = False
    initial: object = None
    description: str = ""

    def __post_init__(self) -> None:
        _check_data_type(self.path, self.data_type)
        if (self.unit is None) != (self.range is None):
            raise ValueError(f"{self.path}: an analog item needs both unit and range")
        if self.unit is not None and self.data_type != "Double":
            raise ValueError(f"{self.path}: analog items are Double, not {self.data_type}")

    @property
    def is_analog(self) -> bool:
        """True for AnalogItemType variables (with EngineeringUnits and EURange)."""
        return self.unit is not None

    @property
    def default(self) -> object:
        """The starting value: `initial`, or the zero of the data type (the EURange's low end when 0 is outside it)."""
        if self.initial is not None:
            return self.initial
        if self.range is not None and not self.range.contains(0.0):
            return self.range.low
        zeros: dict[str, object] = {"Boolean": False, "Int32": 0, "UInt32": 0, "Double": 0.0, "String": ""}
        return 0 if isinstance(self.data_type, EnumSpec) else zeros[self.data_type]


@dataclass(frozen=True)
class ArgumentSpec:
    """A method argument: name and data type."""

    name: str
    data_type: DataType
    description: str = ""

    def __post_init__(self) -> None:
        _check_data_type(self.name, self.data_type)


COMMAND_STATUS = EnumSpec("CommandStatus", ("Accepted", "Busy", "NotReady", "InvalidArgument", "Fault"))
"""The one output of every method: 0 Accepted, else why the device refused."""

STATUS_OUTPUT = (ArgumentSpec("Status", COMMAND_STATUS, "0 Accepted, else the reason for refusal"),
                 ArgumentSpec("Reason", "String", "why the device refused, empty when accepted"))


@dataclass(frozen=True)
class MethodSpec:
    """A method at `path` (its parent object is the path's prefix) with typed arguments."""

    path: str
    inputs: tuple[ArgumentSpec, ...] = ()
    outputs: tuple[ArgumentSpec, ...] = STATUS_OUTPUT
    description: str = ""


@dataclass(frozen=True)
class DeviceSpec:
    """A device kind's whole address space."""

    kind: str
    namespace_uri: str
    variables: tuple[VariableSpec, ...]
    methods: tuple[MethodSpec, ...] = ()

    def __post_init__(self) -> None:
        paths = [v.path for v in self.variables] + [m.path for m in self.methods]
        duplicates = sorted({p for p in paths if paths.count(p) > 1})
        if duplicates:
            raise ValueError(f"{self.kind}: duplicate paths {duplicates}")
        leaves = set(paths)
        for path in paths:
            for depth in range(1, path.count("/") + 1):
                prefix = path.rsplit("/", depth)[0]
                if prefix in leaves:
                    raise ValueError(f"{self.kind}: {path} lies below the variable or method {prefix}")

    def variable(self, path: str) -> VariableSpec:
        """The variable at `path`; KeyError names the device and path when absent."""
        for var in self.variables:
            if var.path == path:
                return var
        raise KeyError(f"{self.kind}: no variable {path!r}")

    def method(self, path: str) -> MethodSpec:
        """The method at `path`; KeyError names the device and path when absent."""
        for meth in self.methods:
            if meth.path == path:
                return meth
        raise KeyError(f"{self.kind}: no method {path!r}")

    @property
    def object_paths(self) -> tuple[str, ...]:
        """Every object (folder) path implied by the leaves, parents before children."""
        found: dict[str, None] = {}
        for path in [v.path for v in self.variables] + [m.path for m in self.methods]:
            parts = path.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                found.setdefault("/".join(parts[:depth]), None)
        return tuple(sorted(found, key=lambda p: p.count("/")))

    @property
    def enums(self) -> tuple[EnumSpec, ...]:
        """Every enumeration the variables and method arguments use, each once."""
        types = [v.data_type for v in self.variables]
        types += [a.data_type for m in self.methods for a in m.inputs + m.outputs]
        found: dict[str, EnumSpec] = {}
        for data_type in types:
            if isinstance(data_type, EnumSpec):
                if found.setdefault(data_type.name, data_type) != data_type:
                    raise ValueError(f"{self.kind}: two different enums named {data_type.name}")
        return tuple(found.values())


def _analog(path: str, unit: Unit, low: float, high: float, writable: bool = False, description: str = "") -> VariableSpec:
    return VariableSpec(path, "Double", unit, Range(low, high), writable, description=description)


WATCHDOG = "Watchdog"
DEVICE_HEARTBEAT = f"{WATCHDOG}/DeviceHeartbeat"
CONTROLLER_HEARTBEAT = f"{WATCHDOG}/ControllerHeartbeat"
WATCHDOG_TIMEOUT = f"{WATCHDOG}/Timeout"
WATCHDOG_TRIPPED = f"{WATCHDOG}/Tripped"
TWIN_CONTROL = "TwinControl"


class TwinControlPaths:
    """Browse paths of the twin-only `TwinControl` methods (`twin_control_methods`)."""

    SET_EMERGENCY_STOP = f"{TWIN_CONTROL}/SetEmergencyStop"
    SET_PROTECTIVE_STOP = f"{TWIN_CONTROL}/SetProtectiveStop"
    SET_DOOR_OPEN = f"{TWIN_CONTROL}/SetDoorOpen"
    SET_OPERATION_MODE = f"{TWIN_CONTROL}/SetOperationMode"
    SET_SUPPLY = f"{TWIN_CONTROL}/SetSupply"


def watchdog_variables() -> tuple[VariableSpec, ...]:
    """The `Watchdog` object every device serves (see the module docstring)."""
    return (
        VariableSpec(DEVICE_HEARTBEAT, "UInt32", description="the device's life-sign: +1 every publishing period"),
        VariableSpec(CONTROLLER_HEARTBEAT, "UInt32", writable=True,
                     description="written by the cell while its supervisor runs; silent for Timeout: safe state"),
        _analog(WATCHDOG_TIMEOUT, SECOND, 0.05, 60.0, description="how long the controller heartbeat may stay unchanged"),
        VariableSpec(WATCHDOG_TRIPPED, "Boolean", description="the heartbeat stopped: the device went to its safe state"),
    )


def twin_control_methods(role: str) -> tuple[MethodSpec, ...]:
    """The twin-only `TwinControl` methods of a device role: shop-floor events to test the cell against."""
    flag = (ArgumentSpec("Active", "Boolean"),)
    methods = {
        "robot": (MethodSpec(TwinControlPaths.SET_EMERGENCY_STOP, flag,
                             description="press (True) or release the e-stop"),
                  MethodSpec(TwinControlPaths.SET_PROTECTIVE_STOP, flag,
                             description="open (True) or close the fence door")),
        "machine": (MethodSpec(TwinControlPaths.SET_EMERGENCY_STOP, flag),
                    MethodSpec(TwinControlPaths.SET_DOOR_OPEN, flag, description="open (True) or close the guard door"),
                    MethodSpec(TwinControlPaths.SET_OPERATION_MODE, (ArgumentSpec("Mode", MACHINE_OPERATION_MODE),),
                               description="the machine's own mode switch (not Automatic: it takes no parts)")),
        "feeder": (MethodSpec(TwinControlPaths.SET_SUPPLY, flag,
                              description="blanks arrive at the infeed (True) or not"),),
        "welder": (),
    }
    return methods[role]


def with_twin_control(spec: DeviceSpec, role: str) -> DeviceSpec:
    """`spec` plus the twin's `TwinControl` methods for `role` (what the twin serves)."""
    return DeviceSpec(spec.kind, spec.namespace_uri, spec.variables, spec.methods + twin_control_methods(role))


def _identification(root: str, manufacturer: str, model: str, serial: str) -> tuple[VariableSpec, ...]:
    values = {"Manufacturer": manufacturer, "Model": model, "SerialNumber": serial}
    return tuple(VariableSpec(f"{root}/Identification/{k}", "String", initial=v) for k, v in values.items())


# --- robot: OPC 40010 Robotics ------------------------------------------------------------------

ROBOT_EXECUTION_STATE = EnumSpec("ExecutionState", ("Idle", "Running", "Completed", "Stopped", "Fault"))
EXECUTION_IDLE, EXECUTION_RUNNING, EXECUTION_COMPLETED, EXECUTION_STOPPED, EXECUTION_FAULT = ROBOT_EXECUTION_STATE.values

# Path prefixes of the robot's address space; `RobotPaths` spells out its leaves.
ROBOT_SYSTEM = "MotionDeviceSystem"
ROBOT_MOTION = f"{ROBOT_SYSTEM}/MotionDevices/MotionDevice_1"
ROBOT_TASK = f"{ROBOT_SYSTEM}/Controllers/Controller_1/TaskControls/TaskControl_1"
ROBOT_SAFETY = f"{ROBOT_SYSTEM}/SafetyStates/SafetyState_1/ParameterSet"
ROBOT_WELD = f"{ROBOT_SYSTEM}/WeldProcess"

ROBOT_AXES = 6


class RobotPaths:
    """Browse paths of the robot's variables and methods (`robot_spec`); axes and pose components as tuples."""

    #: axis 1..ROBOT_AXES
    AXIS_POSITIONS = tuple(f"{ROBOT_MOTION}/Axes/Axis_{n}/ParameterSet/ActualPosition"
                           for n in range(1, ROBOT_AXES + 1))
    AXIS_SPEEDS = tuple(f"{ROBOT_MOTION}/Axes/Axis_{n}/ParameterSet/ActualSpeed" for n in range(1, ROBOT_AXES + 1))
    #: x, y, z
    TCP_POSITION = tuple(f"{ROBOT_MOTION}/ParameterSet/TcpPosition{c}" for c in "XYZ")
    #: x, y, z, w
    TCP_ORIENTATION = tuple(f"{ROBOT_MOTION}/ParameterSet/TcpOrientationQ{c}" for c in "xyzw")
    PROGRAM_NAME = f"{ROBOT_TASK}/ParameterSet/TaskProgramName"
    PROGRAM_LOADED = f"{ROBOT_TASK}/ParameterSet/TaskProgramLoaded"
    EXECUTION_STATE = f"{ROBOT_TASK}/ParameterSet/ExecutionState"
    EMERGENCY_STOP = f"{ROBOT_SAFETY}/EmergencyStop"
    PROTECTIVE_STOP = f"{ROBOT_SAFETY}/ProtectiveStop"
    TRAVEL_SPEED_SETPOINT = f"{ROBOT_WELD}/TravelSpeedSetpoint"
    TORCH_OFFSET_SETPOINT = f"{ROBOT_WELD}/TorchOffsetSetpoint"
    TRACKER_GAP = f"{ROBOT_WELD}/SeamTracker/Gap"
    TRACKER_SEAM_OFFSET = f"{ROBOT_WELD}/SeamTracker/SeamOffset"
    WELD_PROGRESS = f"{ROBOT_WELD}/WeldProgress"
    PART_ID = f"{ROBOT_WELD}/PartId"
    START_PROGRAM = f"{ROBOT_TASK}/MethodSet/StartProgram"
    STOP_PROGRAM = f"{ROBOT_TASK}/MethodSet/StopProgram"


def robot_spec() -> DeviceSpec:
    """The welding robot: OPC 40010 MotionDeviceSystem plus our weld-process variables.

    Axis positions in deg, speeds in deg/s; TCP pose in the robot base frame, position in mm,
    orientation as a unit quaternion (x, y, z, w).
    """
    axes = []
    for position, speed in zip(RobotPaths.AXIS_POSITIONS, RobotPaths.AXIS_SPEEDS):
        axes.append(_analog(position, DEG, -360.0, 360.0))
        axes.append(_analog(speed, DEG_S, -720.0, 720.0))
    tcp = [_analog(path, MM, -5000.0, 5000.0) for path in RobotPaths.TCP_POSITION]
    tcp += [_analog(path, ONE, -1.0, 1.0) for path in RobotPaths.TCP_ORIENTATION]
    return DeviceSpec(
        kind="robot",
        namespace_uri=NAMESPACE_PREFIX + "robot",
        variables=(
            *axes,
            *tcp,
            VariableSpec(RobotPaths.PROGRAM_NAME, "String"),
            VariableSpec(RobotPaths.PROGRAM_LOADED, "Boolean"),
            VariableSpec(RobotPaths.EXECUTION_STATE, ROBOT_EXECUTION_STATE),
            VariableSpec(RobotPaths.EMERGENCY_STOP, "Boolean"),
            VariableSpec(RobotPaths.PROTECTIVE_STOP, "Boolean"),
            _analog(RobotPaths.TRAVEL_SPEED_SETPOINT, MM_S, 1.0, 25.0, writable=True),
            _analog(RobotPaths.TORCH_OFFSET_SETPOINT, MM, -5.0, 5.0, writable=True,
                    description="lateral torch correction, positive left of travel"),
            _analog(RobotPaths.TRACKER_GAP, MM, 0.0, 10.0),
            _analog(RobotPaths.TRACKER_SEAM_OFFSET, MM, -10.0, 10.0,
                    description="seam offset from the programmed path, positive left"),
            _analog(RobotPaths.WELD_PROGRESS, ONE, 0.0, 1.0,
                    description="fraction of the seam welded: 0 until the arc starts"),
            VariableSpec(RobotPaths.PART_ID, "String"),
            *watchdog_variables(),
        ),
        methods=(
            MethodSpec(RobotPaths.START_PROGRAM, (ArgumentSpec("Name", "String"), ArgumentSpec("PartId", "String"))),
            MethodSpec(RobotPaths.STOP_PROGRAM),
        ),
    )


# --- welder: modelled on OPC 40450 Joining Systems ----------------------------------------------

WELDER_STATE = EnumSpec("WelderState", ("Idle", "Welding", "Fault"))
WELDER_IDLE, WELDER_WELDING, WELDER_FAULT = WELDER_STATE.values
WELDER_ROOT = "JoiningSystem"


class WelderPaths:
    """Browse paths of the welder's variables (`welder_spec`; its identification aside)."""

    VOLTAGE_SETPOINT = f"{WELDER_ROOT}/ProcessParameters/VoltageSetpoint"
    WIRE_FEED_SPEED_SETPOINT = f"{WELDER_ROOT}/ProcessParameters/WireFeedSpeedSetpoint"
    GAS_FLOW_SETPOINT = f"{WELDER_ROOT}/ProcessParameters/GasFlowSetpoint"
    ACTUAL_CURRENT = f"{WELDER_ROOT}/ActualValues/Current"
    ACTUAL_VOLTAGE = f"{WELDER_ROOT}/ActualValues/Voltage"
    ACTUAL_WIRE_FEED_SPEED = f"{WELDER_ROOT}/ActualValues/WireFeedSpeed"
    ACTUAL_ARC_POWER = f"{WELDER_ROOT}/ActualValues/ArcPower"
    ACTUAL_POOL_WIDTH = f"{WELDER_ROOT}/ActualValues/PoolWidth"
    ACTUAL_ARC_ON = f"{WELDER_ROOT}/ActualValues/ArcOn"
    ACTUAL_ARC_ENERGY = f"{WELDER_ROOT}/ActualValues/ArcEnergy"
    STATE = f"{WELDER_ROOT}/State"
    RESULT_PART_ID = f"{WELDER_ROOT}/Results/LastResult/PartId"
    RESULT_ARC_ENERGY = f"{WELDER_ROOT}/Results/LastResult/ArcEnergy"
    RESULT_WELD_TIME = f"{WELDER_ROOT}/Results/LastResult/WeldTime"
    RESULT_BEAD_WIDTH = f"{WELDER_ROOT}/Results/LastResult/BeadWidth"
    RESULT_PENETRATION = f"{WELDER_ROOT}/Results/LastResult/Penetration"
    RESULT_MEAN_CURRENT = f"{WELDER_ROOT}/Results/LastResult/MeanCurrent"
    RESULT_MEAN_VOLTAGE = f"{WELDER_ROOT}/Results/LastResult/MeanVoltage"
    RESULT_MEAN_WIRE_FEED_SPEED = f"{WELDER_ROOT}/Results/LastResult/MeanWireFeedSpeed"
    RESULT_MEAN_TRAVEL_SPEED = f"{WELDER_ROOT}/Results/LastResult/MeanTravelSpeed"
    RESULT_IMPERFECTIONS = f"{WELDER_ROOT}/Results/LastResult/Imperfections"
    RESULT_QUALITY_LEVEL = f"{WELDER_ROOT}/Results/LastResult/QualityLevel"
    RESULT_COUNTER = f"{WELDER_ROOT}/Results/LastResult/ResultCounter"


def welder_spec() -> DeviceSpec:
    """The GMAW power source: process parameters (writable), actual values, per-weld results."""
    return DeviceSpec(
        kind="welder",
        namespace_uri=NAMESPACE_PREFIX + "welder",
        variables=(
            *_identification(WELDER_ROOT, "cell-controller", "TwinArc 500", "WLD-0001"),
            _analog(WelderPaths.VOLTAGE_SETPOINT, VOLT, 14.0, 36.0, writable=True),
            _analog(WelderPaths.WIRE_FEED_SPEED_SETPOINT, M_MIN, 2.0, 16.0, writable=True),
            _analog(WelderPaths.GAS_FLOW_SETPOINT, L_MIN, 0.0, 30.0, writable=True),
            _analog(WelderPaths.ACTUAL_CURRENT, AMPERE, 0.0, 600.0),
            _analog(WelderPaths.ACTUAL_VOLTAGE, VOLT, 0.0, 60.0),
            _analog(WelderPaths.ACTUAL_WIRE_FEED_SPEED, M_MIN, 0.0, 25.0),
            _analog(WelderPaths.ACTUAL_ARC_POWER, WATT, 0.0, 36000.0),
            _analog(WelderPaths.ACTUAL_POOL_WIDTH, MM, 0.0, 30.0),
            VariableSpec(WelderPaths.ACTUAL_ARC_ON, "Boolean"),
            _analog(WelderPaths.ACTUAL_ARC_ENERGY, KILOJOULE, 0.0, 10000.0, description="energy of the running weld"),
            VariableSpec(WelderPaths.STATE, WELDER_STATE),
            VariableSpec(WelderPaths.RESULT_PART_ID, "String"),
            _analog(WelderPaths.RESULT_ARC_ENERGY, KILOJOULE, 0.0, 10000.0),
            _analog(WelderPaths.RESULT_WELD_TIME, SECOND, 0.0, 3600.0),
            _analog(WelderPaths.RESULT_BEAD_WIDTH, MM, 0.0, 30.0),
            _analog(WelderPaths.RESULT_PENETRATION, MM, 0.0, 30.0),
            _analog(WelderPaths.RESULT_MEAN_CURRENT, AMPERE, 0.0, 600.0),
            _analog(WelderPaths.RESULT_MEAN_VOLTAGE, VOLT, 0.0, 60.0),
            _analog(WelderPaths.RESULT_MEAN_WIRE_FEED_SPEED, M_MIN, 0.0, 25.0),
            _analog(WelderPaths.RESULT_MEAN_TRAVEL_SPEED, MM_S, 0.0, 50.0),
            VariableSpec(WelderPaths.RESULT_IMPERFECTIONS, "String",
                         description="comma-separated ISO 6520-1 imperfection names, empty when none"),
            VariableSpec(WelderPaths.RESULT_QUALITY_LEVEL, "String", description="ISO 5817 level B, C, D, or fail"),
            VariableSpec(WelderPaths.RESULT_COUNTER, "UInt32", description="increments once per result"),
            *watchdog_variables(),
        ),
    )


# --- machine: OPC 40501 Machine Tools / 40503 Metal Forming -------------------------------------

MACHINE_OPERATION_MODE = EnumSpec("MachineOperationMode", ("Other", "Manual", "Automatic", "Setup"))
MODE_OTHER, MODE_MANUAL, MODE_AUTOMATIC, MODE_SETUP = MACHINE_OPERATION_MODE.values
MACHINE_STATE = EnumSpec("MachineState", ("Idle", "Running", "Ended", "Fault"))
MACHINE_IDLE, MACHINE_RUNNING, MACHINE_ENDED, MACHINE_FAULT = MACHINE_STATE.values
PROGRAM_STATE = EnumSpec("ProgramState", ("Initializing", "Running", "Ended", "Interrupted", "Aborted"))
PROGRAM_INITIALIZING, PROGRAM_RUNNING, PROGRAM_ENDED, PROGRAM_INTERRUPTED, PROGRAM_ABORTED = PROGRAM_STATE.values
MACHINE_ROOT = "Machine"
MACHINE_PROGRAM = f"{MACHINE_ROOT}/Production/ActiveProgram"
_MACHINE_IDENTITY = {"press": ("cell-controller", "TwinPress 250", "PRS-0001"),
                     "cnc": ("cell-controller", "TwinMill 3X", "CNC-0001")}


class MachinePaths:
    """Browse paths of the machine's variables and method (`machine_spec`; its identification aside)."""

    OPERATION_MODE = f"{MACHINE_ROOT}/Monitoring/OperationMode"
    MACHINE_STATE = f"{MACHINE_ROOT}/Monitoring/MachineState"
    PROGRAM_NAME = f"{MACHINE_PROGRAM}/Name"
    PROGRAM_STATE = f"{MACHINE_PROGRAM}/State"
    PROGRAM_PART_ID = f"{MACHINE_PROGRAM}/PartId"
    PROGRAM_CYCLE_TIME = f"{MACHINE_PROGRAM}/CycleTime"
    PARTS_COMPLETED = f"{MACHINE_ROOT}/Production/PartsCompleted"
    EMERGENCY_STOP = f"{MACHINE_ROOT}/Safety/EmergencyStop"
    DOOR_OPEN = f"{MACHINE_ROOT}/Safety/DoorOpen"
    START_CYCLE = f"{MACHINE_ROOT}/MethodSet/StartCycle"


def machine_spec(kind: str = "press") -> DeviceSpec:
    """The downstream machine, a press or a CNC (same address space, identification differs)."""
    if kind not in _MACHINE_IDENTITY:
        raise ValueError(f"machine kind {kind!r} not in {sorted(_MACHINE_IDENTITY)}")
    return DeviceSpec(
        kind=kind,
        namespace_uri=NAMESPACE_PREFIX + "machine",
        variables=(
            *_identification(MACHINE_ROOT, *_MACHINE_IDENTITY[kind]),
            VariableSpec(MachinePaths.OPERATION_MODE, MACHINE_OPERATION_MODE,
                         initial=MACHINE_OPERATION_MODE.index(MODE_AUTOMATIC)),
            VariableSpec(MachinePaths.MACHINE_STATE, MACHINE_STATE),
            VariableSpec(MachinePaths.PROGRAM_NAME, "String"),
            VariableSpec(MachinePaths.PROGRAM_STATE, PROGRAM_STATE),
            VariableSpec(MachinePaths.PROGRAM_PART_ID, "String"),
            _analog(MachinePaths.PROGRAM_CYCLE_TIME, SECOND, 0.0, 3600.0),
            VariableSpec(MachinePaths.PARTS_COMPLETED, "UInt32"),
            VariableSpec(MachinePaths.EMERGENCY_STOP, "Boolean"),
            VariableSpec(MachinePaths.DOOR_OPEN, "Boolean", description="the guard door is open"),
            *watchdog_variables(),
        ),
        methods=(MethodSpec(MachinePaths.START_CYCLE, (ArgumentSpec("PartId", "String"),)),),
    )


# --- feeder: conveyor + feeder PLC --------------------------------------------------------------

FEEDER_STATE = EnumSpec("FeederState", ("Idle", "Feeding", "Transferring", "Jammed", "Fault"))
FEEDER_IDLE, FEEDER_FEEDING, FEEDER_TRANSFERRING, FEEDER_JAMMED, FEEDER_FAULT = FEEDER_STATE.values
FEEDER_ROOT = "Feeder"


class FeederPaths:
    """Browse paths of the feeder's variables and methods (`feeder_spec`)."""

    CONVEYOR_SPEED_SETPOINT = f"{FEEDER_ROOT}/Conveyor/SpeedSetpoint"
    CONVEYOR_SPEED = f"{FEEDER_ROOT}/Conveyor/Speed"
    CONVEYOR_RUNNING = f"{FEEDER_ROOT}/Conveyor/Running"
    BUFFER_COUNT = f"{FEEDER_ROOT}/Buffer/Count"
    BUFFER_CAPACITY = f"{FEEDER_ROOT}/Buffer/Capacity"
    FIXTURE_PART_PRESENT = f"{FEEDER_ROOT}/Fixture/PartPresent"
    FIXTURE_CLAMPED = f"{FEEDER_ROOT}/Fixture/Clamped"
    FIXTURE_PART_ID = f"{FEEDER_ROOT}/Fixture/PartId"
    OUTFEED_COUNT = f"{FEEDER_ROOT}/Outfeed/Count"
    TIME_SINCE_RELEASE = f"{FEEDER_ROOT}/Infeed/TimeSinceRelease"
    BLANKS_RELEASED = f"{FEEDER_ROOT}/Infeed/BlanksReleased"
    STATE = f"{FEEDER_ROOT}/State"
    JAM_COUNT = f"{FEEDER_ROOT}/JamCount"
    RELEASE_BLANK = f"{FEEDER_ROOT}/MethodSet/ReleaseBlank"
    FEED_PART = f"{FEEDER_ROOT}/MethodSet/FeedPart"
    CLAMP = f"{FEEDER_ROOT}/MethodSet/Clamp"
    UNCLAMP = f"{FEEDER_ROOT}/MethodSet/Unclamp"
    TRANSFER_TO_MACHINE = f"{FEEDER_ROOT}/MethodSet/TransferToMachine"
    RELEASE = f"{FEEDER_ROOT}/MethodSet/Release"
    REJECT_PART = f"{FEEDER_ROOT}/MethodSet/RejectPart"


def feeder_spec() -> DeviceSpec:
    """The conveyor, blank buffer, fixture and outfeed behind one PLC."""
    return DeviceSpec(
        kind="feeder",
        namespace_uri=NAMESPACE_PREFIX + "feeder",
        variables=(
            _analog(FeederPaths.CONVEYOR_SPEED_SETPOINT, MM_S, 0.0, 500.0, writable=True),
            _analog(FeederPaths.CONVEYOR_SPEED, MM_S, 0.0, 500.0),
            VariableSpec(FeederPaths.CONVEYOR_RUNNING, "Boolean"),
            VariableSpec(FeederPaths.BUFFER_COUNT, "UInt32"),
            VariableSpec(FeederPaths.BUFFER_CAPACITY, "UInt32", initial=8),
            VariableSpec(FeederPaths.FIXTURE_PART_PRESENT, "Boolean"),
            VariableSpec(FeederPaths.FIXTURE_CLAMPED, "Boolean"),
            VariableSpec(FeederPaths.FIXTURE_PART_ID, "String"),
            VariableSpec(FeederPaths.OUTFEED_COUNT, "UInt32"),
            _analog(FeederPaths.TIME_SINCE_RELEASE, SECOND, 0.0, 1e6,
                    description="time since the last blank was released onto the belt"),
            VariableSpec(FeederPaths.BLANKS_RELEASED, "UInt32"),
            VariableSpec(FeederPaths.STATE, FEEDER_STATE),
            VariableSpec(FeederPaths.JAM_COUNT, "UInt32"),
            *watchdog_variables(),
        ),
        methods=(
            MethodSpec(FeederPaths.RELEASE_BLANK, description="put a new blank on the belt"),
            MethodSpec(FeederPaths.FEED_PART, (ArgumentSpec("PartId", "String"),)),
            MethodSpec(FeederPaths.CLAMP),
            MethodSpec(FeederPaths.UNCLAMP),
            MethodSpec(FeederPaths.TRANSFER_TO_MACHINE),
            MethodSpec(FeederPaths.RELEASE, description="take the part out of the machine (its cycle not running)"),
            MethodSpec(FeederPaths.REJECT_PART, description="take the unclamped part in the fixture to the reject bin"),
        ),
    )


# --- the cell itself, northbound to the MES: OPC 30050 PackML ---------------------------------------

PACKML_STATE = EnumSpec("PackMLState", (
    "Undefined", "Clearing", "Stopped", "Starting", "Idle", "Suspended", "Execute", "Stopping", "Aborting",
    "Aborted", "Holding", "Held", "Unholding", "Suspending", "Unsuspending", "Resetting", "Completing", "Complete"))
"""The TR88 state numbers: the member's index is its number."""
PACKML_UNIT_MODE = EnumSpec("PackMLUnitMode", ("Undefined", "Production", "Maintenance", "Manual"))
PER_MINUTE = Unit("C94", "1/min", "reciprocal minute (parts per minute)")
PACKML_ROOT = "PackML"
PACKML_STATUS = f"{PACKML_ROOT}/Status"
PACKML_ADMIN = f"{PACKML_ROOT}/Admin"
PACKML_COMMANDS = f"{PACKML_ROOT}/BaseStateMachine"
PACKML_SET_UNIT_MODE = f"{PACKML_ROOT}/SetUnitMode"
#: the cell's own method beside OPC 30050's: move one device to another backend (`swap` on `command`)
PACKML_SWAP_BACKEND = f"{PACKML_ROOT}/SwapBackend"
DEVICE_BACKEND = EnumSpec("DeviceBackend", ("twin", "real", "shadow"))


def packml_spec() -> DeviceSpec:
    """The cell as its northbound server shows it to MES and SCADA, shaped after OPC 30050 (PackML):
    Status and Admin PackTags, one method per PackML command and SetUnitMode, each answering Status
    and Reason once the supervisor has accepted or refused."""
    states = PACKML_STATE.values[1:]
    return DeviceSpec(
        kind="packml",
        namespace_uri=NAMESPACE_PREFIX + "packml",
        variables=(
            VariableSpec(f"{PACKML_STATUS}/StateCurrent", PACKML_STATE),
            VariableSpec(f"{PACKML_STATUS}/StateRequested", PACKML_STATE,
                         description="the state the current acting state ends in"),
            VariableSpec(f"{PACKML_STATUS}/StateChangeInProcess", "Boolean"),
            VariableSpec(f"{PACKML_STATUS}/UnitModeCurrent", PACKML_UNIT_MODE),
            VariableSpec(f"{PACKML_STATUS}/AvailableTransitions", "String",
                         description="the commands accepted now, comma-separated"),
            _analog(f"{PACKML_STATUS}/CurMachSpeed", PER_MINUTE, 0.0, 1000.0,
                    description="parts per minute at the last part's cycle time (0 outside Execute)"),
            VariableSpec(f"{PACKML_STATUS}/EquipmentBlocked", "Boolean"),
            VariableSpec(f"{PACKML_STATUS}/EquipmentStarved", "Boolean"),
            VariableSpec(f"{PACKML_STATUS}/Warning", "String", description="active warnings, '' when none"),
            VariableSpec(f"{PACKML_STATUS}/LastCommand", "String"),
            VariableSpec(f"{PACKML_STATUS}/LastCommandResult", "String", description="accepted, or refused: reason"),
            VariableSpec(f"{PACKML_STATUS}/Backends", "String",
                         description="each device's backend, e.g. robot:twin,welder:shadow"),
            VariableSpec(f"{PACKML_STATUS}/LastSwap", "String", description="the last swap that ended"),
            VariableSpec(f"{PACKML_STATUS}/LastSwapResult", "String",
                         description="done: <the bridge's answer and time>, or refused: <why, rolled back>"),
            VariableSpec(f"{PACKML_ADMIN}/ShiftId", "UInt32"),
            VariableSpec(f"{PACKML_ADMIN}/PartsTarget", "UInt32"),
            VariableSpec(f"{PACKML_ADMIN}/ProdProcessedCount", "UInt32", description="parts produced this shift"),
            VariableSpec(f"{PACKML_ADMIN}/ProdDefectiveCount", "UInt32",
                         description="parts produced defective, scrapped or interrupted this shift"),
            _analog(f"{PACKML_ADMIN}/MachDesignSpeed", PER_MINUTE, 0.0, 1000.0,
                    description="parts per minute at the planned (ideal) cycle time"),
            VariableSpec(f"{PACKML_ADMIN}/StopReason/ID", "Int32", description="packml.StopCode"),
            VariableSpec(f"{PACKML_ADMIN}/StopReason/Message", "String"),
            *(_analog(f"{PACKML_ADMIN}/StateCumulativeTime/{state}", SECOND, 0.0, 1e9) for state in states),
        ),
        methods=(
            *(MethodSpec(f"{PACKML_COMMANDS}/{command}") for command in
              ("Reset", "Start", "Stop", "Hold", "Unhold", "Suspend", "Unsuspend", "Abort", "Clear")),
            MethodSpec(PACKML_SET_UNIT_MODE, (ArgumentSpec("UnitMode", PACKML_UNIT_MODE),)),
            MethodSpec(PACKML_SWAP_BACKEND, (ArgumentSpec("Device", "String", "a device name or role"),
                                             ArgumentSpec("Backend", DEVICE_BACKEND)),
                       description="answers whether the swap is taken; Status/LastSwapResult says how it ended"),
        ),
    )


def spec_for(kind: str) -> DeviceSpec:
    """The spec of a device kind as a cell description names it (robot, welder, press, cnc, feeder)."""
    if kind in _MACHINE_IDENTITY:
        return machine_spec(kind)
    builders = {"robot": robot_spec, "welder": welder_spec, "feeder": feeder_spec}
    if kind not in builders:
        raise ValueError(f"unknown device kind {kind!r}; known: robot, welder, press, cnc, feeder")
    return builders[kind]()
