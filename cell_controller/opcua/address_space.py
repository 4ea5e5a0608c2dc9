"""Declarative address spaces of the cell's four device kinds (plain data, no asyncua).

One `DeviceSpec` describes everything a bridge may touch on a device: variables
(browse path, data type, unit, range, writability) and methods (arguments). The
same spec builds the twin's server (`opcua.server.DeviceServer`), drives the
client (`opcua.client.DeviceClient`) and is what `opcua.checker` probes a real
device against.

Paths are ``"A/B/C"`` strings of browse names below the Objects folder; every
browse name lives in the device kind's own namespace (``spec.namespace_uri``).
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
        "robot": (MethodSpec(f"{TWIN_CONTROL}/SetEmergencyStop", flag, description="press (True) or release the e-stop"),
                  MethodSpec(f"{TWIN_CONTROL}/SetProtectiveStop", flag, description="open (True) or close the fence door")),
        "machine": (MethodSpec(f"{TWIN_CONTROL}/SetEmergencyStop", flag),
                    MethodSpec(f"{TWIN_CONTROL}/SetDoorOpen", flag, description="open (True) or close the guard door"),
                    MethodSpec(f"{TWIN_CONTROL}/SetOperationMode", (ArgumentSpec("Mode", MACHINE_OPERATION_MODE),),
                               description="the machine's own mode switch (not Automatic: it takes no parts)")),
        "feeder": (MethodSpec(f"{TWIN_CONTROL}/SetSupply", flag, description="blanks arrive at the infeed (True) or not"),),
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

# Path prefixes of the address spaces, imported by the bridges' mappings and the twin's bindings.
ROBOT_SYSTEM = "MotionDeviceSystem"
ROBOT_MOTION = f"{ROBOT_SYSTEM}/MotionDevices/MotionDevice_1"
ROBOT_TASK = f"{ROBOT_SYSTEM}/Controllers/Controller_1/TaskControls/TaskControl_1"
ROBOT_SAFETY = f"{ROBOT_SYSTEM}/SafetyStates/SafetyState_1/ParameterSet"
ROBOT_WELD = f"{ROBOT_SYSTEM}/WeldProcess"

ROBOT_AXES = 6


def robot_spec() -> DeviceSpec:
    """The welding robot: OPC 40010 MotionDeviceSystem plus our weld-process variables.

    Axis positions in deg, speeds in deg/s; TCP pose in the robot base frame, position in mm,
    orientation as a unit quaternion (x, y, z, w).
    """
    axes = []
    for n in range(1, ROBOT_AXES + 1):
        axes.append(_analog(f"{ROBOT_MOTION}/Axes/Axis_{n}/ParameterSet/ActualPosition", DEG, -360.0, 360.0))
        axes.append(_analog(f"{ROBOT_MOTION}/Axes/Axis_{n}/ParameterSet/ActualSpeed", DEG_S, -720.0, 720.0))
    tcp = [_analog(f"{ROBOT_MOTION}/ParameterSet/TcpPosition{c}", MM, -5000.0, 5000.0) for c in "XYZ"]
    tcp += [_analog(f"{ROBOT_MOTION}/ParameterSet/TcpOrientationQ{c}", ONE, -1.0, 1.0) for c in "xyzw"]
    return DeviceSpec(
        kind="robot",
        namespace_uri=NAMESPACE_PREFIX + "robot",
        variables=(
            *axes,
            *tcp,
            VariableSpec(f"{ROBOT_TASK}/ParameterSet/TaskProgramName", "String"),
            VariableSpec(f"{ROBOT_TASK}/ParameterSet/TaskProgramLoaded", "Boolean"),
            VariableSpec(f"{ROBOT_TASK}/ParameterSet/ExecutionState", ROBOT_EXECUTION_STATE),
            VariableSpec(f"{ROBOT_SAFETY}/EmergencyStop", "Boolean"),
            VariableSpec(f"{ROBOT_SAFETY}/ProtectiveStop", "Boolean"),
            _analog(f"{ROBOT_WELD}/TravelSpeedSetpoint", MM_S, 1.0, 25.0, writable=True),
            _analog(f"{ROBOT_WELD}/TorchOffsetSetpoint", MM, -5.0, 5.0, writable=True,
                    description="lateral torch correction, positive left of travel"),
            _analog(f"{ROBOT_WELD}/SeamTracker/Gap", MM, 0.0, 10.0),
            _analog(f"{ROBOT_WELD}/SeamTracker/SeamOffset", MM, -10.0, 10.0,
                    description="seam offset from the programmed path, positive left"),
            _analog(f"{ROBOT_WELD}/WeldProgress", ONE, 0.0, 1.0,
                    description="fraction of the seam welded: 0 until the arc starts"),
            VariableSpec(f"{ROBOT_WELD}/PartId", "String"),
            *watchdog_variables(),
        ),
        methods=(
            MethodSpec(f"{ROBOT_TASK}/MethodSet/StartProgram",
                       (ArgumentSpec("Name", "String"), ArgumentSpec("PartId", "String"))),
            MethodSpec(f"{ROBOT_TASK}/MethodSet/StopProgram"),
        ),
    )


# --- welder: modelled on OPC 40450 Joining Systems ----------------------------------------------

WELDER_STATE = EnumSpec("WelderState", ("Idle", "Welding", "Fault"))
WELDER_ROOT = "JoiningSystem"


def welder_spec() -> DeviceSpec:
    """The GMAW power source: process parameters (writable), actual values, per-weld results."""
    actual = f"{WELDER_ROOT}/ActualValues"
    result = f"{WELDER_ROOT}/Results/LastResult"
    return DeviceSpec(
        kind="welder",
        namespace_uri=NAMESPACE_PREFIX + "welder",
        variables=(
            *_identification(WELDER_ROOT, "cell-controller", "TwinArc 500", "WLD-0001"),
            _analog(f"{WELDER_ROOT}/ProcessParameters/VoltageSetpoint", VOLT, 14.0, 36.0, writable=True),
            _analog(f"{WELDER_ROOT}/ProcessParameters/WireFeedSpeedSetpoint", M_MIN, 2.0, 16.0, writable=True),
            _analog(f"{WELDER_ROOT}/ProcessParameters/GasFlowSetpoint", L_MIN, 0.0, 30.0, writable=True),
            _analog(f"{actual}/Current", AMPERE, 0.0, 600.0),
            _analog(f"{actual}/Voltage", VOLT, 0.0, 60.0),
            _analog(f"{actual}/WireFeedSpeed", M_MIN, 0.0, 25.0),
            _analog(f"{actual}/ArcPower", WATT, 0.0, 36000.0),
            _analog(f"{actual}/PoolWidth", MM, 0.0, 30.0),
            VariableSpec(f"{actual}/ArcOn", "Boolean"),
            _analog(f"{actual}/ArcEnergy", KILOJOULE, 0.0, 10000.0, description="energy of the running weld"),
            VariableSpec(f"{WELDER_ROOT}/State", WELDER_STATE),
            VariableSpec(f"{result}/PartId", "String"),
            _analog(f"{result}/ArcEnergy", KILOJOULE, 0.0, 10000.0),
            _analog(f"{result}/WeldTime", SECOND, 0.0, 3600.0),
            _analog(f"{result}/BeadWidth", MM, 0.0, 30.0),
            _analog(f"{result}/Penetration", MM, 0.0, 30.0),
            _analog(f"{result}/MeanCurrent", AMPERE, 0.0, 600.0),
            _analog(f"{result}/MeanVoltage", VOLT, 0.0, 60.0),
            _analog(f"{result}/MeanWireFeedSpeed", M_MIN, 0.0, 25.0),
            _analog(f"{result}/MeanTravelSpeed", MM_S, 0.0, 50.0),
            VariableSpec(f"{result}/Imperfections", "String",
                         description="comma-separated ISO 6520-1 imperfection names, empty when none"),
            VariableSpec(f"{result}/QualityLevel", "String", description="ISO 5817 level B, C, D, or fail"),
            VariableSpec(f"{result}/ResultCounter", "UInt32", description="increments once per result"),
            *watchdog_variables(),
        ),
    )


# --- machine: OPC 40501 Machine Tools / 40503 Metal Forming -------------------------------------

MACHINE_OPERATION_MODE = EnumSpec("MachineOperationMode", ("Other", "Manual", "Automatic", "Setup"))
MACHINE_STATE = EnumSpec("MachineState", ("Idle", "Running", "Ended", "Fault"))
PROGRAM_STATE = EnumSpec("ProgramState", ("Initializing", "Running", "Ended", "Interrupted", "Aborted"))
MACHINE_ROOT = "Machine"
MACHINE_PROGRAM = f"{MACHINE_ROOT}/Production/ActiveProgram"
_MACHINE_IDENTITY = {"press": ("cell-controller", "TwinPress 250", "PRS-0001"),
                     "cnc": ("cell-controller", "TwinMill 3X", "CNC-0001")}


def machine_spec(kind: str = "press") -> DeviceSpec:
    """The downstream machine, a press or a CNC (same address space, identification differs)."""
    if kind not in _MACHINE_IDENTITY:
        raise ValueError(f"machine kind {kind!r} not in {sorted(_MACHINE_IDENTITY)}")
    program = MACHINE_PROGRAM
    return DeviceSpec(
        kind=kind,
        namespace_uri=NAMESPACE_PREFIX + "machine",
        variables=(
            *_identification(MACHINE_ROOT, *_MACHINE_IDENTITY[kind]),
            VariableSpec(f"{MACHINE_ROOT}/Monitoring/OperationMode", MACHINE_OPERATION_MODE,
                         initial=MACHINE_OPERATION_MODE.index("Automatic")),
            VariableSpec(f"{MACHINE_ROOT}/Monitoring/MachineState", MACHINE_STATE),
            VariableSpec(f"{program}/Name", "String"),
            VariableSpec(f"{program}/State", PROGRAM_STATE),
            VariableSpec(f"{program}/PartId", "String"),
            _analog(f"{program}/CycleTime", SECOND, 0.0, 3600.0),
            VariableSpec(f"{MACHINE_ROOT}/Production/PartsCompleted", "UInt32"),
            VariableSpec(f"{MACHINE_ROOT}/Safety/EmergencyStop", "Boolean"),
            VariableSpec(f"{MACHINE_ROOT}/Safety/DoorOpen", "Boolean", description="the guard door is open"),
            *watchdog_variables(),
        ),
        methods=(MethodSpec(f"{MACHINE_ROOT}/MethodSet/StartCycle", (ArgumentSpec("PartId", "String"),)),),
    )


# --- feeder: conveyor + feeder PLC --------------------------------------------------------------

FEEDER_STATE = EnumSpec("FeederState", ("Idle", "Feeding", "Transferring", "Jammed", "Fault"))
FEEDER_ROOT = "Feeder"


def feeder_spec() -> DeviceSpec:
    """The conveyor, blank buffer, fixture and outfeed behind one PLC."""
    return DeviceSpec(
        kind="feeder",
        namespace_uri=NAMESPACE_PREFIX + "feeder",
        variables=(
            _analog(f"{FEEDER_ROOT}/Conveyor/SpeedSetpoint", MM_S, 0.0, 500.0, writable=True),
            _analog(f"{FEEDER_ROOT}/Conveyor/Speed", MM_S, 0.0, 500.0),
            VariableSpec(f"{FEEDER_ROOT}/Conveyor/Running", "Boolean"),
            VariableSpec(f"{FEEDER_ROOT}/Buffer/Count", "UInt32"),
            VariableSpec(f"{FEEDER_ROOT}/Buffer/Capacity", "UInt32", initial=8),
            VariableSpec(f"{FEEDER_ROOT}/Fixture/PartPresent", "Boolean"),
            VariableSpec(f"{FEEDER_ROOT}/Fixture/Clamped", "Boolean"),
            VariableSpec(f"{FEEDER_ROOT}/Fixture/PartId", "String"),
            VariableSpec(f"{FEEDER_ROOT}/Outfeed/Count", "UInt32"),
            _analog(f"{FEEDER_ROOT}/Infeed/TimeSinceRelease", SECOND, 0.0, 1e6,
                    description="time since the last blank was released onto the belt"),
            VariableSpec(f"{FEEDER_ROOT}/Infeed/BlanksReleased", "UInt32"),
            VariableSpec(f"{FEEDER_ROOT}/State", FEEDER_STATE),
            VariableSpec(f"{FEEDER_ROOT}/JamCount", "UInt32"),
            *watchdog_variables(),
        ),
        methods=(
            MethodSpec(f"{FEEDER_ROOT}/MethodSet/ReleaseBlank", description="put a new blank on the belt"),
            MethodSpec(f"{FEEDER_ROOT}/MethodSet/FeedPart", (ArgumentSpec("PartId", "String"),)),
            MethodSpec(f"{FEEDER_ROOT}/MethodSet/Clamp"),
            MethodSpec(f"{FEEDER_ROOT}/MethodSet/Unclamp"),
            MethodSpec(f"{FEEDER_ROOT}/MethodSet/TransferToMachine"),
            MethodSpec(f"{FEEDER_ROOT}/MethodSet/Release", description="take the part out of the machine (its cycle not running)"),
            MethodSpec(f"{FEEDER_ROOT}/MethodSet/RejectPart",
                       description="take the unclamped part in the fixture to the reject bin"),
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
