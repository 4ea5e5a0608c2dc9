"""What the operator page shows, as the JSON messages it is sent: built from the cell's topics and journal.

Plain Python on plain values (the node decodes the messages; nodes/hmi.py). Every message is a dict with
a `type`:

* `hello`: who the page is logged in as (user, role), whether anyone can log in, the PackML states of each
  unit mode, the trend window (s);
* `state`: the supervisor's `state` values and whether it is alive;
* `device`: one device's state, level, detail, backend, lifecycle and the age of its data (s);
* `trend`: new process samples `[stamp_s, current_A, voltage_V, wire_feed_m_min, pool_width_mm]`, tracker
  samples `[stamp_s, travel_speed_mm_s]` and setpoints `[sensed_stamp_s, voltage_V, wire_feed_m_min,
  travel_speed_mm_s]`, stamps in cell time (the devices' clock, Unix s);
* `parts`: the shift's last parts (ISO 5817 level, imperfections, cycle time s, arc energy kJ, energy kWh);
* `kpis`: the shift's KPI rows (shift_figures.KPI_ROWS: name, value text, unit);
* `alarms`: the active alarms, the history, the alarms raised in the flood window and whether that is a
  flood;
* `answer`: the answer to one of the page's requests (`id`, `result` accepted | refused, `reason`).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping

from cell_controller.core.alarms import FLOOD_WINDOW_S, AlarmBook
from cell_controller.core.journal import PartRecord
from cell_controller.core.kpis import CellKpis
from cell_controller.core.packml import MODE_STATES
from cell_controller.core.types import DeviceStatus
from cell_controller.shift_figures import KPI_ROWS, unit_of

from .sessions import Session

#: the trends show this much of the newest cell time, s
TREND_WINDOW_S = 60.0
#: the parts table shows this many of the shift's newest parts
PARTS_SHOWN = 12
#: weld traces kept for the weld plot (the newest parts')
TRACES_KEPT = 50
#: the most samples of one weld kept (a 300 s weld at 50 Hz)
MAX_TRACE_SAMPLES = 15_000
#: status values the page shows for each device
DEVICE_VALUES = ("backend", "lifecycle", "data_age_s", "safety", "watchdog", "swap_result")


def hello_message(session: Session | None, can_log_in: bool) -> dict:
    return {"type": "hello", "user": session.user if session else "", "role": session.role.value if session
            else "viewer", "can_log_in": can_log_in, "trend_window_s": TREND_WINDOW_S,
            "mode_states": {mode.label: sorted(s.value for s in states) for mode, states in MODE_STATES.items()}}


def state_message(values: Mapping[str, str], supervisor_alive: bool) -> dict:
    return {"type": "state", "values": dict(values), "alive": supervisor_alive}


def device_message(role: str, status: DeviceStatus | None, level: int) -> dict:
    """One device's row; `status` None: its bridge's liveliness is lost."""
    if status is None:
        return {"type": "device", "role": role, "state": "gone", "level": "ERROR",
                "detail": "its bridge is not running", "values": {}}
    return {"type": "device", "role": role, "state": status.state.value,
            "level": ("OK", "WARN", "ERROR", "STALE")[min(max(level, 0), 3)], "detail": status.detail,
            "values": {k: status.values[k] for k in DEVICE_VALUES if k in status.values}}


def alarms_message(book: AlarmBook, now_s: float) -> dict:
    return {"type": "alarms", "active": [a.as_dict() for a in sorted(book.alarms.values(),
                                                                      key=lambda a: -a.raised_at)],
            "history": [a.as_dict() for a in list(book.history)[:50]],
            "raised_in_window": book.raised_within(now_s), "window_s": FLOOD_WINDOW_S, "flood": book.flood(now_s)}


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 3)


def parts_message(records: Iterable[PartRecord]) -> dict:
    rows = []
    for record in list(records)[-PARTS_SHOWN:][::-1]:
        energy = record.costs.get("electricity")
        rows.append({"part_id": record.part_id, "outcome": record.outcome.value, "level": record.iso5817_level,
                     "imperfections": list(record.imperfections), "reason": record.reason,
                     "cycle_time_s": _number(record.cycle_time_s), "arc_energy_kJ": _number(record.arc_energy_kJ),
                     "energy_kWh": _number(energy.quantity) if energy else None})
    return {"type": "parts", "rows": rows}


def kpis_message(kpis: CellKpis) -> dict:
    return {"type": "kpis", "rows": [[row.name, row.text(kpis), unit_of(row, kpis)] for row in KPI_ROWS]}


def answer_message(request_id: str, accepted: bool, reason: str = "") -> dict:
    return {"type": "answer", "id": request_id, "result": "accepted" if accepted else "refused", "reason": reason}


class Trend:
    """Samples arriving between two `take`s, as one `trend` message."""

    def __init__(self) -> None:
        self.process: list[list[float | None]] = []
        self.tracker: list[list[float | None]] = []
        self.setpoints: list[list[float | None]] = []

    def add_process(self, sample: Mapping[str, float]) -> None:
        self.process.append([_number(sample["stamp_s"]), *(_number(sample[k]) for k in
                                                            ("current_A", "voltage_V", "wire_feed_m_min",
                                                             "pool_width_mm"))])

    def add_tracker(self, sample: Mapping[str, float]) -> None:
        self.tracker.append([_number(sample["stamp_s"]), _number(sample["travel_speed_mm_s"])])

    def add_setpoints(self, sample: Mapping[str, float]) -> None:
        self.setpoints.append([_number(sample["sensed_stamp_s"]), *(_number(sample[k]) for k in
                                                                     ("voltage_V", "wire_feed_m_min",
                                                                      "travel_speed_mm_s"))])

    def take(self) -> dict | None:
        """The samples since the last take as a `trend` message (None: there are none)."""
        if not (self.process or self.tracker or self.setpoints):
            return None
        message = {"type": "trend", "process": self.process, "tracker": self.tracker, "setpoints": self.setpoints}
        self.__init__()
        return message


def merge_trends(messages: Iterable[dict]) -> dict:
    """One `trend` message holding the samples of `messages`, in order (what a page that connects gets)."""
    merged: dict = {"type": "trend", "process": [], "tracker": [], "setpoints": []}
    for message in messages:
        for key in ("process", "tracker", "setpoints"):
            merged[key] += message[key]
    return merged


class WeldTraces:
    """The process samples of each weld, by part: `[t_s, current_A, voltage_V, wire_feed_m_min,
    pool_width_mm, travel_speed_mm_s]` with t_s the cell time since the arc first struck for it. The part is
    the one the robot names when the arc strikes."""

    def __init__(self) -> None:
        self.traces: OrderedDict[str, list[list[float | None]]] = OrderedDict()
        self.robot_part_id = ""
        self.travel_speed_mm_s = math.nan
        self._welding: str | None = None
        self._struck_s: dict[str, float] = {}  # part -> the cell time its arc first struck

    def add_process(self, sample: Mapping[str, float]) -> None:
        if sample["arc_on"] <= 0.5:
            self._welding = None
            return
        if self._welding is None:
            if not self.robot_part_id:
                return  # an arc for no part (a test weld from the welder's panel): nothing to show it with
            self._welding = self.robot_part_id
            if self._welding not in self.traces:  # a weld resumed after Hold goes on in its trace
                self.traces[self._welding], self._struck_s[self._welding] = [], sample["stamp_s"]
            self.traces.move_to_end(self._welding)
            while len(self.traces) > TRACES_KEPT:
                del self._struck_s[self.traces.popitem(last=False)[0]]
        trace = self.traces[self._welding]
        if len(trace) < MAX_TRACE_SAMPLES:
            trace.append([_number(sample["stamp_s"] - self._struck_s[self._welding]),
                          *(_number(sample[k]) for k in ("current_A", "voltage_V", "wire_feed_m_min",
                                                         "pool_width_mm")), _number(self.travel_speed_mm_s)])

    def trace(self, part_id: str) -> list[list[float | None]] | None:
        return self.traces.get(part_id)
