"""Feeding on the feeder's statuses: when a feeding policy is asked, its step, and a release in flight.

One rule for the policy node (`cell_controller.nodes.policy`), the flow model's runs
(`cell_controller.sim.physics.flow.run_feed_policy`) and the training env
(`cell_controller.sim.envs.feed_env.FeedEnv`), so that a policy meets in the cell the timing it was
trained and evaluated on. It lives in core because it needs only core types and both sim and the
nodes run it (sim never imports the policies):

* the policy is asked on a feeder status, at most once per `control_period_s`;
* its step `dt_s` is the cell time since it was last asked: a status it was not asked on (the
  control period, the cell not producing) lengthens the next step and loses no time;
* after a release it commands, further releases are withheld, until the feeder counts the blank or
  `RELEASE_SETTLE_S` pass; the policy is still asked and its conveyor speed passed on.

Units: s of cell time (the feeder's stamps).
"""
from __future__ import annotations

from cell_controller.core.policy import FeedPolicy
from cell_controller.core.types import FeedAction, FeedObservation

#: after commanding a release, withhold the next one at most this long (s) for the feeder to count the blank
RELEASE_SETTLE_S = 2.0
#: stamps this close (s) count as the same time: a device's stamp is Unix seconds to a microsecond
STAMP_TOLERANCE_S = 1e-3


class FeedLoop:
    """Asks `policy` on the feeder's statuses (see the module docstring)."""

    def __init__(self, policy: FeedPolicy, control_period_s: float):
        if not control_period_s >= 0.0:
            raise ValueError(f"control_period_s must be >= 0 s, got {control_period_s!r}")
        self.policy = policy
        self.control_period_s = control_period_s
        self.asked_stamp_s: float | None = None  # the status the policy was last asked on, s
        self.release: tuple[int, float] | None = None  # (blanks counted before it, stamp s) of a release in flight

    def reset(self) -> None:
        """A new shift: the policy and the loop forget everything."""
        self.policy.reset()
        self.asked_stamp_s = None
        self.release = None

    def ask(self, stamp_s: float) -> float | None:
        """The policy's step for the status stamped `stamp_s` (0 for the first), or None when not due."""
        last = self.asked_stamp_s
        if last is not None and stamp_s - last < self.control_period_s - STAMP_TOLERANCE_S:
            return None
        self.asked_stamp_s = stamp_s
        return 0.0 if last is None else stamp_s - last

    def command(self, action: FeedAction, stamp_s: float, blanks_released: int) -> FeedAction:
        """The policy's `action` on the status stamped `stamp_s` (the feeder has counted `blanks_released`),
        with its release withheld while an earlier one is in flight."""
        if self.release is not None:
            before, at_s = self.release
            if blanks_released > before or stamp_s - at_s >= RELEASE_SETTLE_S - STAMP_TOLERANCE_S:
                self.release = None
        if not action.release_blank:
            return action
        if self.release is not None:
            return FeedAction(action.conveyor_speed_mm_s, False)
        self.release = (blanks_released, stamp_s)
        return action

    def on_status(self, stamp_s: float, observation: FeedObservation, blanks_released: int) -> FeedAction | None:
        """The feeder command for one status, or None when the policy is not due."""
        dt_s = self.ask(stamp_s)
        if dt_s is None:
            return None
        return self.command(self.policy.act(observation, dt_s), stamp_s, blanks_released)
