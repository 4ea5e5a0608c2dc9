"""The plant: a stand-in for the shop floor, a second twin that is not the cell's twin.

`cell-twin --plant --config FILE` serves every device of the description that has a `real` section at
that section's endpoint, from a TwinCell of its own (its own PyBullet world, in its own process) built
with the reality-gap parameter set the `plant` section names (`sim/reality_gap.py`): its welds, its
sensors and its machine are that plant's, not the twin's. As real devices do, it runs in real time
(time scale 1), serves the real section's mapping when one is given (`opcua/mapping.py`: the vendor's
namespace, paths and units) and our spec otherwise, has no TwinControl methods, and serves with
SignAndEncrypt only (`plant.security`: its certificate and key, the clients it trusts) and, with
`plant.accounts`, username logins checked against those accounts. Each server's ApplicationUri is the
one its certificate names (OPC UA Part 4 requires them to match), so the plant's certificate is the
identity a description's `real.application_uri` names.

Hardware in the loop (`plant.arc_from: twin`): a plant welder used with the twin's robot welds when that
robot welds. `TwinLink` stands for the fieldbus between a robot controller and its power source on a
HIL bench: subscribed to the twin robot's server (our spec, unsecured: the twin serves on loopback),
it starts the plant welder's arc on the part's joint when the robot's weld program reaches its arc
start (weld progress above 0 while running), steps it with the robot's travel-speed and torch-offset
setpoints and ends it when the seam is done or the program ends or stops (or the link is lost). The
joint is the one the twin welds: the twin seeds each part's joint by its blank's number
(`TwinCell.new_part`), and blanks reach the fixture in the order they were released, so the n-th
part the twin's feeder takes into its fixture is blank n (the plant must be up before the first part
is fed; a part it never saw in the fixture gets the next number, with a warning). With
`arc_from: plant` the plant's own robot (which then has a real section too) drives its welder in-process.
When the plant does not serve the feeder, its fixture mirrors the twin's (part and clamp: what its robot
checks before it welds); a plant machine needs the plant's feeder (it takes the parts that one transfers).

SIGINT/SIGTERM stop it cleanly. Units: mm, mm/s, s.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from typing import Any

from cell_controller.core.config import CellConfig, ConfigError, DeviceConfig
from cell_controller.opcua.address_space import (
    EXECUTION_RUNNING, ROBOT_EXECUTION_STATE, FeederPaths, RobotPaths, spec_for,
)
from cell_controller.opcua.client import LINK_ERRORS, DeviceClient
from cell_controller.opcua.mapping import AddressMapping, MappedServer, load_mapping
from cell_controller.opcua.security import certificate_uri
from cell_controller.opcua.server import DeviceServer, ServerSecurity
from cell_controller.opcua.users import Account, AccountsError, load_accounts
from cell_controller.sim.reality_gap import RealityGap, UnknownGapError, gap
from cell_controller.sim.twin.world import CellWorld

from .models import Part, TwinCell
from .twin_server import TwinServer, compile_kernels

_log = logging.getLogger("cell_plant")

#: the twin robot's values the arc follows
ROBOT_SIGNALS = (RobotPaths.EXECUTION_STATE, RobotPaths.PART_ID, RobotPaths.TRAVEL_SPEED_SETPOINT,
                 RobotPaths.TORCH_OFFSET_SETPOINT, RobotPaths.WELD_PROGRESS)
#: the twin fixture's part (the order parts reach it numbers their blanks) and clamp
FIXTURE_SIGNALS = (FeederPaths.FIXTURE_PART_ID, FeederPaths.FIXTURE_CLAMPED)
#: how long the arc waits between tries to reach the twin's servers, s (wall)
TWIN_RETRY_S = 1.0


@dataclass(frozen=True)
class Plant:
    """What the plant serves, validated before any server listens (`from_config`)."""

    gap_name: str
    gap: RealityGap
    devices: tuple[DeviceConfig, ...]
    security: ServerSecurity
    accounts: dict[str, Account] | None
    #: device name -> its real section's mapping (None: our spec)
    mappings: dict[str, AddressMapping | None]
    #: a plant welder follows the twin's robot (hardware in the loop)
    follows_twin_robot: bool
    #: the plant's fixture holds what the twin's does (the plant does not serve the feeder)
    mirrors_twin_fixture: bool

    @classmethod
    def from_config(cls, config: CellConfig) -> Plant:
        """The plant of `config`; ConfigError (naming the file and the key) when it has none or it is unusable."""
        plant = config.plant
        if plant is None:
            raise ConfigError(config.path, "plant", "missing: cell-twin --plant serves the devices' real sections "
                              "with the plant section's parameter set, accounts and security")
        devices = tuple(d for d in config.devices.values() if d.real is not None)
        if not devices:
            raise ConfigError(config.path, "devices", "no device has a real section: the plant has nothing to serve")
        try:
            reality = gap(plant.parameter_set)
        except UnknownGapError as error:
            raise ConfigError(config.path, "plant.parameter_set", str(error)) from None
        if plant.security is None:
            raise ConfigError(config.path, "plant.security", "missing: real devices serve with SignAndEncrypt only "
                              "(the plant's certificate and key, the trusted clients)")
        served = {d.kind.role for d in devices}
        arc_from_twin = plant.arc_from == "twin"
        if "welder" in served and arc_from_twin == ("robot" in served):
            reason = ("the robot is served by the plant too: its welder takes the arc from it (arc_from: plant)"
                      if arc_from_twin else "the plant's welder takes the arc from a plant robot, but the robot has "
                      "no real section (arc_from: twin follows the twin's robot)")
            raise ConfigError(config.path, "plant.arc_from", reason)
        if "machine" in served and "feeder" not in served:
            machine = config.device("machine").name
            raise ConfigError(config.path, f"devices.{machine}.real", "a plant machine takes the parts the plant's "
                              "feeder transfers into it: give the feeder a real section too")
        try:
            accounts = load_accounts(plant.accounts_path) if plant.accounts_path else None
        except AccountsError as error:
            raise ConfigError(config.path, "plant.accounts", str(error)) from None
        mappings = {d.name: load_mapping(d.real.mapping, spec_for(d.kind.value)) if d.real.mapping else None
                    for d in devices}
        return cls(plant.parameter_set, reality, devices, ServerSecurity.from_config(plant.security), accounts,
                   mappings, follows_twin_robot="welder" in served and arc_from_twin,
                   mirrors_twin_fixture="feeder" not in served and bool(served & {"robot", "welder"}))

    @property
    def application_uri(self) -> str | None:
        """Every plant server's ApplicationUri: the one the plant's certificate names (None: it names none)."""
        return certificate_uri(self.security.certificate)


class TwinLink:
    """What the plant takes from the twin's servers (our specs, unsecured: the twin serves on loopback); see
    the module docstring. With `follow_arc` the plant welder's arc follows the twin's robot; with
    `mirror_fixture` the plant's fixture holds what the twin's does (the part and whether it is clamped:
    what the plant's robot checks before it welds), and parts are numbered in the order they reach it."""

    def __init__(self, config: CellConfig, cell: TwinCell, follow_arc: bool, mirror_fixture: bool):
        self.config, self.cell = config, cell
        self.follow_arc, self.mirror_fixture = follow_arc, mirror_fixture
        #: the twin robot's latest values (None: bad, or the link is lost)
        self.robot: dict[str, Any] = {}
        #: parts the twin's feeder took into its fixture so far (the blank number of the last)
        self.parts_fed = 0
        self._running = ROBOT_EXECUTION_STATE.index(EXECUTION_RUNNING)
        self._arc_part = ""  # the part whose arc this run of the program started ('' none)
        self._clients: list[DeviceClient] = []

    async def connect(self) -> None:
        """Subscribe to the twin's servers, trying until the twin answers; the links heal themselves
        afterwards. Cancel to give up."""
        sources = []
        if self.follow_arc:
            sources.append((self.config.device("robot"), ROBOT_SIGNALS, self._on_robot))
        if self.mirror_fixture:
            sources.append((self.config.device("feeder"), FIXTURE_SIGNALS, self._on_fixture))
        waiting = False
        while True:
            try:
                for device, paths, callback in sources:
                    client = await DeviceClient.connect(device.endpoint, spec_for(device.kind.value))
                    self._clients.append(client)
                    await client.subscribe(paths, 500.0 / device.publishing_rate_Hz, callback)
                _log.info("linked to the twin's %s", " and ".join(device.name for device, _, _ in sources))
                return
            except LINK_ERRORS as error:
                await self.close()
                if not waiting:
                    _log.warning("waiting for the twin's servers: %s", error)
                    waiting = True
                await asyncio.sleep(TWIN_RETRY_S)

    async def close(self) -> None:
        for client in self._clients:
            await client.disconnect()
        self._clients.clear()

    def _on_robot(self, path: str, value: Any, _stamp: Any, good: bool) -> None:
        self.robot[path] = value if good else None

    def _on_fixture(self, path: str, value: Any, _stamp: Any, good: bool) -> None:
        if not good:
            return
        feeder = self.cell.feeder
        if path == FeederPaths.FIXTURE_CLAMPED:
            feeder.clamped = bool(value)
            return
        feeder.fixture_part = value
        if value:
            self._part(value)

    def _part(self, part_id: str) -> Part:
        """The part `part_id` in the plant's cell, registered with the next blank number when new."""
        if part_id not in self.cell.parts:
            self.parts_fed += 1
            self.cell.new_part(part_id, self.parts_fed)
        return self.cell.parts[part_id]

    @property
    def welding(self) -> bool:
        """The twin robot's program is between its arc start and the seam's end."""
        values = [self.robot.get(path) for path in ROBOT_SIGNALS]
        return None not in values and values[0] == self._running and 0.0 < self.robot[RobotPaths.WELD_PROGRESS] < 1.0

    def step(self, dt_s: float) -> None:
        """Advance the plant welder's arc by `dt_s` (s) as the twin robot's signals say (with `follow_arc`)."""
        if not self.follow_arc:
            return
        welder = self.cell.welder
        if welder.arc_on:
            if self.welding:
                welder.weld_step(dt_s, self.robot[RobotPaths.TRAVEL_SPEED_SETPOINT],
                                 self.robot[RobotPaths.TORCH_OFFSET_SETPOINT])
            if not self.welding or welder.seam_done:
                welder.arc_end()
                _log.info("arc off: part %s, %s (ISO 5817 level %s)", welder.last_part_id,
                          "seam done" if welder.last_report.complete else "the twin robot's program ended",
                          welder.last_report.level)
        elif self.welding and not self._arc_part and "welder" not in self.cell.tripped:
            part_id = self.robot[RobotPaths.PART_ID]
            if part_id not in self.cell.parts:
                _log.warning("part %r was not seen in the twin's fixture: its joint may not be the twin's", part_id)
            part = self._part(part_id)
            welder.arc_start(part_id, part.joint, part.seed)
            self._arc_part = part_id
            _log.info("arc on: part %s, joint seed %d (as the twin seeds it)", part_id, part.seed)
        if self.robot.get(RobotPaths.EXECUTION_STATE) != self._running:
            self._arc_part = ""


class PlantServer(TwinServer):
    """The plant's servers and its loop: the devices with a real section, at their real endpoints, secured,
    in real time; `link` (when the plant takes anything from the twin) steps with it."""

    def __init__(self, config: CellConfig, cell: TwinCell, plant: Plant, link: TwinLink | None):
        super().__init__(config, cell, time_scale=1.0)
        self.plant, self.link = plant, link

    def devices(self) -> list[DeviceConfig]:
        return list(self.plant.devices)

    async def start_server(self, device: DeviceConfig) -> DeviceServer | MappedServer:
        spec, mapping, endpoint = spec_for(device.kind.value), self.plant.mappings[device.name], device.real.endpoint
        secured: dict[str, Any] = {"security": self.plant.security, "accounts": self.plant.accounts}
        name = f"plant-{device.name}"
        server = (await DeviceServer.start(spec, endpoint, name, **secured) if mapping is None
                  else await MappedServer.start(spec, mapping, endpoint, name, **secured))
        _log.info("plant serves %s at %s (%s, reality gap %r, ApplicationUri %s, %s)", device.name, endpoint,
                  f"mapping {device.real.mapping}" if mapping else "our spec", self.plant.gap_name,
                  self.plant.application_uri, "accounts" if self.plant.accounts else "anonymous")
        return server

    def step(self, dt_s: float) -> bool:
        event = super().step(dt_s)
        if self.link is not None:
            self.link.step(dt_s)
        return event


async def serve_plant(config: CellConfig, plant: Plant) -> None:
    """Serve `plant` until SIGINT or SIGTERM."""
    compile_kernels()
    with CellWorld(seed=config.seed) as world:
        cell = TwinCell(config, world, plant.gap)
        link = (TwinLink(config, cell, plant.follows_twin_robot, plant.mirrors_twin_fixture)
                if plant.follows_twin_robot or plant.mirrors_twin_fixture else None)
        server = PlantServer(config, cell, plant, link)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, server.stop)
        await server.start()
        linking = asyncio.create_task(link.connect()) if link is not None else None
        try:
            await server.run()
        finally:
            if linking is not None:
                linking.cancel()
                await asyncio.gather(linking, return_exceptions=True)
                await link.close()
            await server.stop_servers()
