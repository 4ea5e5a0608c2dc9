"""The plant's parts without its servers: what `Plant.from_config` refuses, and `TwinLink` numbering parts as the
twin does and starting, stepping and ending the plant welder's arc as the twin's robot signals say."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cell_controller.core.config import CellConfig, ConfigError, load_cell
from cell_controller.opcua.address_space import FeederPaths, RobotPaths, spec_for
from cell_controller.sim.devices.models import TwinCell
from cell_controller.sim.devices.plant import Plant, TwinLink
from cell_controller.sim.reality_gap import gap
from cell_controller.sim.twin.world import CellWorld
from cell_controller.testing import free_ports, plant_section, private_cell_file, real_device_security

STATES = spec_for("robot").variable(RobotPaths.EXECUTION_STATE).data_type


def description(folder: Path, real: tuple[str, ...] = ("welder",), **plant: Any) -> Path:
    def edit(data: dict[str, Any]) -> None:
        data["twin"]["time_scale"] = 1
        for name in real:
            data["devices"][name]["real"] = {"endpoint": f"opc.tcp://127.0.0.1:{free_ports(1)[0]}",
                                             "security": real_device_security(folder)}
        data["plant"] = {**plant_section(folder), **plant}
    return private_cell_file(folder, "plant", edit)


@pytest.mark.parametrize("real, plant, key", [
    (("welder",), {"parameter_set": "farther"}, "plant.parameter_set"),
    (("welder", "robot"), {"arc_from": "twin"}, "plant.arc_from"),
    (("welder",), {"arc_from": "plant"}, "plant.arc_from"),
    (("machine",), {}, "devices.machine.real"),
    (("welder",), {"security": None}, "plant.security"),
])
def test_a_plant_that_cannot_work_is_refused_naming_the_key(tmp_path: Path, real: tuple[str, ...],
                                                           plant: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as error:
        Plant.from_config(load_cell(description(tmp_path, real, **plant)))
    assert error.value.key == key, error.value


def test_a_hil_welder_follows_the_twin_robot_and_a_plant_robot_its_own(tmp_path: Path) -> None:
    hil = Plant.from_config(load_cell(description(tmp_path)))
    assert hil.follows_twin_robot and hil.mirrors_twin_fixture and hil.gap == gap("far")
    assert hil.application_uri == "urn:cell-controller:plant" and hil.accounts is not None
    own = Plant.from_config(load_cell(description(tmp_path / "own", ("welder", "robot", "feeder"), arc_from="plant")))
    assert not own.follows_twin_robot and not own.mirrors_twin_fixture


@pytest.fixture
def config(tmp_path: Path) -> CellConfig:
    return load_cell(description(tmp_path))


@pytest.fixture
def cells(config: CellConfig) -> Iterator[tuple[TwinCell, TwinCell]]:
    """The twin's cell and the plant's (the `far` gap), each on its own world."""
    with CellWorld(seed=config.seed) as twin_world, CellWorld(seed=config.seed) as plant_world:
        yield TwinCell(config, twin_world), TwinCell(config, plant_world, gap("far"))


def robot(link: TwinLink, state: str, progress: float, part_id: str = "P2") -> None:
    signals = {RobotPaths.EXECUTION_STATE: STATES.index(state), RobotPaths.PART_ID: part_id,
               RobotPaths.WELD_PROGRESS: progress, RobotPaths.TRAVEL_SPEED_SETPOINT: 10.0,
               RobotPaths.TORCH_OFFSET_SETPOINT: 0.0}
    for path, value in signals.items():
        link._on_robot(path, value, None, True)


def run(link: TwinLink, steps: int, each: Callable[[], None] = lambda: None) -> None:
    for _ in range(steps):
        each()
        link.cell.step(0.02)
        link.step(0.02)


def test_the_nth_part_in_the_twins_fixture_is_welded_on_the_twins_nth_blank(
        config: CellConfig, cells: tuple[TwinCell, TwinCell]) -> None:
    twin, plant = cells
    link = TwinLink(config, plant, follow_arc=True, mirror_fixture=True)
    for number, part_id in enumerate(("P1", "P2"), start=1):
        twin.new_part(f"blank-{number}", number)
        link._on_fixture(FeederPaths.FIXTURE_PART_ID, part_id, None, True)
        np.testing.assert_array_equal(plant.parts[part_id].joint.gap_mm, twin.parts[f"blank-{number}"].joint.gap_mm)
    link._on_fixture(FeederPaths.FIXTURE_CLAMPED, True, None, True)
    assert plant.feeder.fixture_part == "P2" and plant.feeder.clamped
    link._on_fixture(FeederPaths.FIXTURE_PART_ID, "P2", None, True)  # seen again: the same part, no new number
    assert link.parts_fed == 2


def test_the_arc_starts_at_the_twin_robots_arc_start_and_ends_with_its_program(
        config: CellConfig, cells: tuple[TwinCell, TwinCell]) -> None:
    _, plant = cells
    link = TwinLink(config, plant, follow_arc=True, mirror_fixture=True)
    link._on_fixture(FeederPaths.FIXTURE_PART_ID, "P2", None, True)
    welder = plant.welder
    robot(link, "Running", 0.0)  # approaching
    run(link, 10)
    assert not welder.arc_on
    robot(link, "Running", 0.01)
    run(link, 50)
    assert welder.arc_burning and welder.part_id == "P2"
    assert welder.sample.torch_position_mm == pytest.approx(49 * 0.02 * 10.0)
    link._on_robot(RobotPaths.WELD_PROGRESS, None, None, False)  # the link lost: the arc goes off
    run(link, 1)
    assert not welder.arc_on and welder.result_counter == 1 and welder.last_part_id == "P2"
    robot(link, "Running", 0.2)
    run(link, 5)
    assert not welder.arc_on, "one arc per run of the program"
    robot(link, "Completed", 1.0)
    run(link, 1)
    robot(link, "Running", 0.01)
    run(link, 5)
    assert welder.arc_on, "the next run welds again"
    robot(link, "Stopped", 0.3)
    run(link, 1)
    assert not welder.arc_on and welder.result_counter == 2


def test_a_tripped_welder_does_not_strike_an_arc(config: CellConfig, cells: tuple[TwinCell, TwinCell]) -> None:
    _, plant = cells
    link = TwinLink(config, plant, follow_arc=True, mirror_fixture=True)
    plant.trip("welder")
    robot(link, "Running", 0.01)
    run(link, 5)
    assert not plant.welder.arc_on
