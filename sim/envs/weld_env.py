"""``WeldEnv``: one episode welds one seeded joint with the GMAW process twin.

Registered as ``cell_controller/Weld-v0`` (see ``cell_controller.sim.envs``).

* Episode: ``generate_joint(joint_seed)`` (200 mm, 5 mm plate, square butt) welded by
  ``WeldProcess(joint, joint_seed)``.  ``reset(seed=s)`` seeds the env's generator, which
  draws the joint seed from ``joint_seeds`` (a half-open range, disjoint from the
  evaluation seeds ``EVAL_SEED_BASE`` and up); ``reset(options={"joint_seed": k})`` welds
  joint ``k``.  Same seed → same joint, same sensor noise, same episode.
* Plant: ``reality_gap`` names the plant the joints are welded on (``sim/reality_gap.py``):
  ``"nominal"`` (the default, the twin itself, what the shipped model was trained on), another named
  set (``near``, ``far``, ``hot``), or ``"random"``: domain randomisation, a plant drawn per episode
  with every field uniform in its range (``RealityGap.draw``, from a generator seeded by the joint
  seed, so an episode stays reproducible and the joint draws do not change), or a ``RealityGap``
  itself (a calibrated twin's, ``cellctl train weld --params FILE``); ``env.plant`` is the episode's.
* Control step: ``dt_s`` of cell time (default ``CONTROL_DT_S`` 0.1 s: in the loop, the welder's
  50 Hz samples at twin time scale 5, ``loop_time_scale``).
  The arc starts on the procedure's setpoints for the first step (as in the twin), then
  every action sets the next ``dt_s``.
* Observation / action: ``weld_spaces`` (sensor readings only, normalised; 4 adjustments of
  the procedure mapped into the cell's limits and rate-limited by the ``WeldShield``).
* Reward, per step, for the length welded in that step (so a slower weld does not collect
  more reward)::

      r = w_quality · score(level of the step) · dx / 10 mm        (only past RUN_ON_MM)
          − w_energy · (U · I · dt) / (E_ref per mm · 10 mm)
      at the end: − w_defect if the finished weld is worse than ISO 5817 level C

  The step's level is the ISO 5817 grading of the process model's true (noise-free) bead of
  that step: the same items and limits as ``WeldProcess.result``; ``score`` maps
  B / C / D / fail to ``level_scores``.  E_ref is the procedure's arc energy per mm.
  The final grade (short-imperfection rule, segment minima and maxima) comes from
  ``WeldProcess.result()`` when the torch reaches the seam end.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from cell_controller.core.config import CellConfig, load_cell
from cell_controller.core.types import WeldObservation, WeldParameters
from cell_controller.sim.physics.arc import current_from_wire_feed
from cell_controller.sim.physics.iso5817 import RUN_ON_MM, iso5817_level, worse_level
from cell_controller.sim.physics.joint import generate_joint
from cell_controller.sim.physics.weld import ProcessSample, WeldBatch, WeldProcess
from cell_controller.sim.physics.weld_report import WeldReport
from cell_controller.sim.reality_gap import NOMINAL, RANDOM, RealityGap, UnknownGapError
from cell_controller.sim.reality_gap import gap as named_gap

from .weld_spaces import ACTION_DIM, OBS_CLIP, OBS_DIM, WeldControlInterface, default_cell_config

__all__ = ["WeldEnv", "WeldReward", "EVAL_SEED_BASE", "TRAIN_SEEDS", "ENV_VERSION", "step_level",
           "observation_from_sample"]

#: evaluation joints are seeds EVAL_SEED_BASE, EVAL_SEED_BASE + 1, ...; training never draws them
EVAL_SEED_BASE = 1_000_000
TRAIN_SEEDS = (0, EVAL_SEED_BASE)
ENV_VERSION = "Weld-v0"
#: the stream (with the joint seed) a randomised episode draws its plant from
DOMAIN_RANDOMISATION_STREAM = 0xDA
#: the cell time between the policy's actions the shipped welding policies were trained at, s
CONTROL_DT_S = 0.1


def loop_time_scale(welder_publishing_rate_Hz: float, dt_s: float = CONTROL_DT_S) -> float:
    """The twin time scale at which the policy node acts every `dt_s` of cell time: it acts once per
    welder sample, and the twin publishes at its rate in wall time."""
    return dt_s * welder_publishing_rate_Hz


@dataclass(frozen=True)
class WeldReward:
    """Reward weights (see the module docstring)."""

    w_quality: float = 1.0
    w_energy: float = 0.3
    w_defect: float = 10.0
    level_scores: dict[str, float] = field(default_factory=lambda: {"B": 1.0, "C": 0.8, "D": -1.0, "fail": -2.0})


def step_level(values: dict[str, float], thickness_mm: float) -> str:
    """ISO 5817 level of one step's true bead values (keys as ``WeldProcess.trace``).

    Same items as ``WeldProcess.result`` except linear misalignment (the joint's, not the
    weld's).  Incomplete penetration is graded as present (the short-imperfection allowance
    needs the whole weld).
    """
    t = thickness_mm
    h = values["reinforcement_mm"]
    width = values["width_mm"]
    items = (
        ("incomplete_penetration", max(0.0, t - values["joint_penetration_mm"]), width),
        ("lack_of_fusion", values["lack_of_fusion"], width),
        ("burn_through", values["burn_through"], width),
        ("joint_missed", values["joint_missed"], width),
        ("undercut", values["undercut_mm"], width),
        ("excess_weld_metal", max(0.0, h), width),
        ("excess_penetration", values["root_sag_mm"], values["root_width_mm"]),
        ("incompletely_filled_groove", max(0.0, -h), width),
        ("porosity", values["porosity_pct"], width),
    )
    level = "B"
    for name, size, b in items:
        level = worse_level(level, iso5817_level(name, float(size), t, float(b)))
    return level


def observation_from_sample(sample, travel_speed_mm_s: float, length_mm: float) -> WeldObservation:
    """The policy's ``WeldObservation`` from a ``ProcessSample`` (as the twin's robot and welder report it)."""
    return WeldObservation(
        gap_mm=sample.tracker_gap_mm, seam_offset_mm=sample.tracker_seam_offset_mm,
        pool_width_mm=sample.pool_width_mm, actual_current_A=sample.actual_current_A,
        actual_voltage_V=sample.actual_voltage_V, actual_wire_feed_m_min=sample.actual_wire_feed_m_min,
        travel_speed_mm_s=travel_speed_mm_s, progress=min(sample.torch_position_mm / length_mm, 1.0),
    )


_STEP_KEYS = ("x_mm", "voltage_V", "current_A", "width_mm", "joint_penetration_mm", "root_width_mm",
              "reinforcement_mm", "root_sag_mm", "burn_through", "lack_of_fusion", "joint_missed", "undercut_mm",
              "porosity_pct")


class WeldEnv(gym.Env):
    """GMAW seam welding of one seeded joint per episode (see the module docstring).

    Args:
        config: cell description (``CellConfig`` or a path); default config/cell.yaml.
        dt_s: control period in s of cell time (≤ 0.1 s, the process model's limit).
        joint_seeds: (low, high) range the joint seed is drawn from on ``reset``.
        reward: reward weights (a ``WeldReward`` or a mapping of its fields, as YAML gives it).
        length_mm: seam length [mm].
        sensor_noise: sensor noise of the process model.
        render_mode: only None (the env does not render; ``sim/physics/plot.py`` draws a finished weld).
        reality_gap: the plant: a set of ``reality_gap.GAPS``, ``"random"`` (see the module docstring), or a
            ``RealityGap`` (a parameter file's, ``reality_gap.read_parameters``: a calibrated twin).
        thickness_quantum_mm: when > 0, round each joint's plate thickness to this step (training
            speed only: the process model caches its 3-D pool correction per (travel-speed bucket,
            exact thickness), so exact thicknesses recompute it, ~1.5 ms, whenever the travel speed
            changes bucket; 0.1 mm keeps the cache warm).  0 (default) welds the joint as generated.
    """

    metadata = {"render_modes": []}

    def __init__(self, config: CellConfig | str | None = None, dt_s: float = CONTROL_DT_S,
                 joint_seeds: tuple[int, int] = TRAIN_SEEDS, reward: WeldReward | dict | None = None,
                 length_mm: float = 200.0, sensor_noise: bool = True, thickness_quantum_mm: float = 0.0,
                 reality_gap: str | RealityGap = "nominal", render_mode: str | None = None):
        super().__init__()
        if render_mode is not None:
            raise ValueError(f"WeldEnv does not render (render_mode={render_mode!r}); see sim/physics/plot.py")
        self.render_mode = None
        if config is None:
            config = default_cell_config()
        elif not isinstance(config, CellConfig):
            config = load_cell(config)
        if not (0.0 < dt_s <= 0.1):
            raise ValueError(f"dt_s must be in (0, 0.1] s, got {dt_s!r}")
        lo, hi = int(joint_seeds[0]), int(joint_seeds[1])
        if not lo < hi:
            raise ValueError(f"joint_seeds must be a non-empty range (low, high), got {joint_seeds!r}")
        self.config = config
        self.dt_s = float(dt_s)
        self.joint_seeds = (lo, hi)
        self.reward_weights = WeldReward(**reward) if isinstance(reward, dict) else (reward or WeldReward())
        self.length_mm = float(length_mm)
        self.sensor_noise = bool(sensor_noise)
        if not thickness_quantum_mm >= 0:
            raise ValueError(f"thickness_quantum_mm must be >= 0, got {thickness_quantum_mm!r}")
        self.thickness_quantum_mm = float(thickness_quantum_mm)
        if not isinstance(reality_gap, RealityGap) and reality_gap != RANDOM:
            try:
                named_gap(reality_gap)
            except UnknownGapError as error:
                raise ValueError(f"reality_gap: {error.args[0]}, or {RANDOM!r}, or a RealityGap") from None
        self.reality_gap = reality_gap
        self.io = WeldControlInterface(config)
        p = config.procedure
        self._gas = p.gas_flow_L_min
        ref_power = p.voltage_V * current_from_wire_feed(p.wire_feed_m_min, p.voltage_V)
        self.ref_energy_J_per_mm = ref_power / p.travel_speed_mm_s
        slowest = self.io.action_map.axes["travel_speed_mm_s"].low
        self.max_steps = int(math.ceil(self.length_mm / slowest / self.dt_s)) + 10
        self.observation_space = spaces.Box(-OBS_CLIP, OBS_CLIP, (OBS_DIM,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (ACTION_DIM,), dtype=np.float32)
        self.process: WeldProcess | None = None
        self.plant: RealityGap = NOMINAL
        self.joint_seed: int | None = None
        self.report: WeldReport | None = None
        self._steps = 0
        self._x_prev = 0.0
        #: (batch, slot): the episodes weld in that slot of a shared ``WeldBatch`` (``WeldBatchEnv``)
        self.batch_slot: tuple[WeldBatch, int] | None = None

    # ------------------------------------------------------------------------------------
    def _weld(self, params) -> ProcessSample:
        assert self.process is not None
        return self.process.step(self.dt_s, params.voltage_V, params.wire_feed_m_min, params.travel_speed_mm_s,
                                 params.torch_offset_mm, self._gas)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "joint_seed" in options:
            joint_seed = int(options["joint_seed"])
        else:
            joint_seed = int(self.np_random.integers(*self.joint_seeds))
        self.joint_seed = joint_seed
        joint = generate_joint(joint_seed, length_mm=self.length_mm)
        if self.thickness_quantum_mm > 0:
            q = self.thickness_quantum_mm
            joint = dataclasses.replace(joint, thickness_mm=round(joint.thickness_mm / q) * q)
        if isinstance(self.reality_gap, RealityGap):
            self.plant = self.reality_gap
        elif self.reality_gap == RANDOM:
            self.plant = RealityGap.draw(np.random.default_rng([joint_seed, DOMAIN_RANDOMISATION_STREAM]))
        else:
            self.plant = named_gap(self.reality_gap)
        self.process = WeldProcess(joint, joint_seed, sensor_noise=self.sensor_noise, gap=self.plant,
                                   batch_slot=self.batch_slot)
        self.report = None
        self._steps = 0
        self.io.reset()
        sample = self._weld(self.io.nominal)  # the arc starts on the procedure
        self._x_prev = self.process.x_mm
        observation = observation_from_sample(sample, self.io.nominal.travel_speed_mm_s, self.length_mm)
        return self.io.observe(observation, self.dt_s), {"joint_seed": joint_seed}

    def step(self, action):
        params = self.setpoints(action)
        return self.outcome(params, self._weld(params))

    def setpoints(self, action) -> WeldParameters:
        """The first half of ``step``: the action as the shielded setpoints the process welds next."""
        if self.process is None:
            raise RuntimeError("reset() before step()")
        if self.process.done:
            raise RuntimeError("the episode has ended; call reset()")
        return self.io.act(np.asarray(action, dtype=np.float64), self.dt_s)

    def outcome(self, params: WeldParameters, sample: ProcessSample):
        """The second half of ``step``, once the process has welded ``params`` and read ``sample``:
        (observation, reward, terminated, truncated, info)."""
        observation = observation_from_sample(sample, params.travel_speed_mm_s, self.length_mm)
        self._steps += 1
        w = self.reward_weights
        v = self.process.last_values(_STEP_KEYS)  # the step's true values (no copy of the trace)
        x = v["x_mm"]
        dx = x - self._x_prev
        graded_dx = max(0.0, x - max(self._x_prev, RUN_ON_MM))
        self._x_prev = x
        level = step_level(v, self.process.joint.thickness_mm)
        energy_J = v["voltage_V"] * v["current_A"] * self.dt_s
        r_quality = w.level_scores[level] * graded_dx / 10.0
        r_energy = energy_J / (self.ref_energy_J_per_mm * 10.0)
        reward = w.w_quality * r_quality - w.w_energy * r_energy
        terminated = bool(self.process.done)
        truncated = not terminated and self._steps >= self.max_steps
        info: dict = {"joint_seed": self.joint_seed, "x_mm": x, "dx_mm": dx, "step_level": level,
                      "parameters": params}
        if terminated or truncated:
            self.report = self.process.result()
            defective = self.report.defective or truncated
            if defective:
                reward -= w.w_defect
            info.update(level=self.report.level if not truncated else "fail", defective=defective,
                        arc_energy_J=self.report.arc_energy_J, imperfections=self.report.imperfection_names)
        return self.io.observe(observation, self.dt_s), float(reward), terminated, truncated, info
