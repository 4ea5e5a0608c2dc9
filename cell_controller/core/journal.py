"""The production journal: SQLite in WAL mode with synchronous=FULL.

Every part id is handed out by the journal (`allocate_part`) and committed *before* its blank
enters the cell, from a sequence that never goes back (AUTOINCREMENT): ids are never reused,
and every part that entered the cell is known even after a crash. Each part ends as exactly
one record, written in one transaction: `good` or `defective` when it leaves the machine,
`scrapped` when an interrupted weld sends it to the reject bin, `interrupted` when a stop, an
abort or a crash left it in the cell. A record is acknowledged only after its commit returns,
so a crash leaves the whole record or none.

Events (PackML transitions, faults, refused commands) are buffered and written together at most
every `EVENT_FLUSH_S`, so a flood of commands never becomes a flood of transactions; their text
is truncated to `MAX_EVENT_DETAIL_CHARS`; each carries the devices' clock (cell time) beside the wall
time, so that the PackML state log gives state durations in cell time (core/kpis.py). Each part's
cost components (core/costs.py) are written with its record. Summaries are computed from the database.
"""
from __future__ import annotations

import enum
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import NamedTuple, TypeVar

#: the schema this code writes (PRAGMA user_version); 0 is the schema before part ids had a sequence
SCHEMA_VERSION = 5
PART_ID_FORMAT = "P{:06d}"
#: events are written together at most this often, s (wall)
EVENT_FLUSH_S = 0.1
#: events kept for writing while the journal cannot write; beyond, events are counted and dropped
MAX_PENDING_EVENTS = 1000
MAX_EVENT_DETAIL_CHARS = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS shifts (
    id            INTEGER PRIMARY KEY,
    started_at    REAL NOT NULL,           -- Unix time, s
    ended_at      REAL,                    -- Unix time, s; NULL while running
    status        TEXT NOT NULL,           -- running | complete | stopped | aborted | interrupted
    parts_target  INTEGER NOT NULL,
    config_hash   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (       -- every part id ever handed out, before its blank was fed
    number      INTEGER PRIMARY KEY AUTOINCREMENT,
    part_id     TEXT UNIQUE,
    shift_id    INTEGER REFERENCES shifts(id),
    entered_at  REAL NOT NULL               -- Unix time, s
);
{parts_table}CREATE TABLE IF NOT EXISTS divergence (    -- shadow: twin - real of a process value while the part was made
    part_id     TEXT NOT NULL REFERENCES parts(part_id),
    device      TEXT NOT NULL,              -- robot | welder | machine | feeder
    signal      TEXT NOT NULL,              -- the device spec's path of the value, its unit in brackets
    rms         REAL NOT NULL,              -- in the signal's unit
    max_abs     REAL NOT NULL,              -- in the signal's unit
    samples     INTEGER NOT NULL,
    PRIMARY KEY (part_id, device, signal)
);
CREATE TABLE IF NOT EXISTS part_costs (    -- what making the part used, and its price (core/costs.py)
    part_id     TEXT NOT NULL REFERENCES parts(part_id),
    component   TEXT NOT NULL,              -- electricity | wire | shielding_gas | blank | machine_hour | scrap_handling
    quantity    REAL NOT NULL,              -- in `unit`
    unit        TEXT NOT NULL,              -- kWh | kg | L | part | h
    amount      REAL,                       -- in `currency`; NULL when the description prices nothing
    currency    TEXT NOT NULL,              -- ISO 4217; '' when unpriced
    PRIMARY KEY (part_id, component)
);
CREATE TABLE IF NOT EXISTS inspections (   -- who judged a part's weld and what they said (schema 5)
    part_id         TEXT NOT NULL REFERENCES parts(part_id),
    source          TEXT NOT NULL,          -- device (the welder's own result) | inspection (the model) | operator
    status          TEXT NOT NULL,          -- known | unknown (the signals could not carry a verdict)
    level           TEXT NOT NULL,          -- ISO 5817 B | C | D | fail; '' when unknown or from an operator
    verdict         TEXT NOT NULL,          -- good | defective | needs_inspection
    p_worse_than_c  REAL,                   -- inspection: P(worse than level C); NULL otherwise
    imperfections   TEXT NOT NULL,          -- JSON list of ISO 6520-1 names
    reason          TEXT NOT NULL,
    judge           TEXT NOT NULL,          -- the inspector's name, the device or the operator's user name
    at              REAL NOT NULL           -- Unix time, s
);
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY,
    shift_id    INTEGER,
    at          REAL NOT NULL,              -- Unix time, s
    kind        TEXT NOT NULL,              -- state | step | fault | info | command | inspect
    source      TEXT NOT NULL,
    detail      TEXT NOT NULL,              -- state: "<from> -> <to> (<cause>)" (`state_detail`);
                                            -- step: "<step> <part id> start|done" (`step_detail`)
    cell_time_s REAL                        -- the devices' clock, s; NULL when no device had reported
);
"""

#: a part's `parts` row: `{parts}` is the table's name (a migration builds it beside the old one)
_PARTS_TABLE = """CREATE TABLE IF NOT EXISTS {parts} (         -- one record per part that entered the cell
    part_id                 TEXT PRIMARY KEY REFERENCES entries(part_id),
    shift_id                INTEGER NOT NULL REFERENCES shifts(id),
    started_at              REAL NOT NULL,  -- Unix time, s
    finished_at             REAL NOT NULL,  -- Unix time, s
    outcome                 TEXT NOT NULL CHECK (outcome IN ({outcomes})),
    reason                  TEXT NOT NULL,  -- why a part was interrupted, scrapped or needs inspection; '' otherwise
    cycle_time_s            REAL,           -- cell time since the previous part left (the first: since its feed)
    mean_current_A          REAL,           -- weld values: NULL when the part was not welded to the end
    mean_voltage_V          REAL,
    mean_wire_feed_m_min    REAL,
    mean_travel_speed_mm_s  REAL,
    arc_energy_kJ           REAL,
    weld_time_s             REAL,
    bead_width_mm           REAL,
    penetration_mm          REAL,
    imperfections           TEXT NOT NULL,  -- JSON list of ISO 6520-1 names
    iso5817_level           TEXT NOT NULL,  -- B | C | D | fail by the deciding judge, '' when not graded
    weld_policy             TEXT NOT NULL,
    feed_policy             TEXT NOT NULL,
    backends                TEXT NOT NULL,  -- JSON {{device: twin|real|shadow, "a>b" when swapped meanwhile}}
    config_hash             TEXT NOT NULL
);
"""
#: version 4 -> 5 adds the inspections table (SCHEMA) and lets parts.outcome be needs_inspection: SQLite
#: cannot change a CHECK, so the table is rebuilt with foreign keys off, as SQLite's ALTER TABLE page describes
_REBUILD_PARTS = """{parts_v5}
INSERT INTO parts_v5 SELECT * FROM parts;
DROP TABLE parts;
ALTER TABLE parts_v5 RENAME TO parts;
"""
#: version 3 -> 4 adds part_costs (SCHEMA) and events.cell_time_s (NULL for the events before)
_ADD_EVENT_CELL_TIME = "ALTER TABLE events ADD COLUMN cell_time_s REAL;"
#: version 2 -> 3 adds the divergence table (SCHEMA creates what is missing)
#: version 0 -> 2: part ids get their sequence (entries), records an outcome and nullable weld values
_MIGRATE_FROM_0 = """
ALTER TABLE parts RENAME TO parts_v0;
{schema}
INSERT INTO entries(part_id, shift_id, entered_at) SELECT part_id, shift_id, started_at FROM parts_v0
    ORDER BY started_at, rowid;
INSERT INTO parts SELECT part_id, shift_id, started_at, finished_at,
    CASE good WHEN 1 THEN 'good' ELSE 'defective' END, '', cycle_time_s, mean_current_A, mean_voltage_V,
    mean_wire_feed_m_min, mean_travel_speed_mm_s, arc_energy_kJ, weld_time_s, bead_width_mm, penetration_mm,
    imperfections, iso5817_level, weld_policy, feed_policy, backends, config_hash FROM parts_v0;
DROP TABLE parts_v0;
"""


class JournalError(RuntimeError):
    """The journal could not commit; nothing of the refused write was stored."""


class VerdictRefused(ValueError):
    """An operator's verdict names a part without a record, or one its weld's judges decided."""


def state_detail(old: str, new: str, cause: str) -> str:
    """The detail of a PackML transition's event (kind 'state'), as `StateChange.parse` reads it."""
    return f"{old} -> {new} ({cause})"


class StateChange(NamedTuple):
    """One PackML transition of the state log: wall time (Unix, s), the devices' clock (s, None when
    unknown), and the states' names."""

    at: float
    cell_time_s: float | None
    old: str
    new: str

    @classmethod
    def parse(cls, at: float, cell_time_s: float | None, detail: str) -> StateChange | None:
        """The transition a 'state' event's detail names; None for a detail not in `state_detail`'s form."""
        old, arrow, rest = detail.partition(" -> ")
        new = rest.split(" (", 1)[0]
        return cls(at, cell_time_s, old, new) if arrow and old and new else None


def step_detail(step: str, part_id: str, edge: str) -> str:
    """The detail of a sequence step's event (kind 'step', source the device): edge 'start' when its command
    was first sent, 'done' when its effect was seen (core/sequence.py's step names)."""
    return f"{step} {part_id} {edge}"


class StepEvent(NamedTuple):
    """One edge of a sequence step: wall time (Unix, s), the devices' clock (s, None when unknown), the
    device, the step's name, the part and 'start' or 'done'."""

    at: float
    cell_time_s: float | None
    device: str
    step: str
    part_id: str
    edge: str


class CostLine(NamedTuple):
    """One thing a part used: `quantity` in `unit` (kWh, kg, L, part, h) and its price `amount` in the
    description's currency (None when the description prices nothing)."""

    quantity: float
    unit: str
    amount: float | None


class Outcome(str, enum.Enum):
    """How a part left the cell."""

    GOOD = "good"
    DEFECTIVE = "defective"
    INTERRUPTED = "interrupted"
    SCRAPPED = "scrapped"
    #: welded and pressed, but nobody could judge the weld: an operator's verdict (`set_verdict`) decides
    NEEDS_INSPECTION = "needs_inspection"


#: the outcomes of a part that was made to its end (the shift's progress counts them)
PRODUCED = frozenset({Outcome.GOOD, Outcome.DEFECTIVE, Outcome.NEEDS_INSPECTION})


def _parts_table(name: str) -> str:
    return _PARTS_TABLE.format(parts=name, outcomes=", ".join(f"'{o.value}'" for o in Outcome))


SCHEMA = _SCHEMA.format(parts_table=_parts_table("parts"))


class Judgement(NamedTuple):
    """One judge's word on a part's weld (a row of `inspections`): `source` device, inspection or operator;
    `status` known or unknown; the ISO 5817 `level` ('' when unknown or from an operator); the `verdict`
    (an Outcome's value: good, defective or needs_inspection); P(worse than level C) from an inspection
    (None otherwise); the imperfections; why; the judge's name; when (Unix time, s)."""

    source: str
    status: str
    level: str
    verdict: str
    p_worse_than_c: float | None
    imperfections: tuple[str, ...]
    reason: str
    judge: str
    at: float


@dataclass(frozen=True)
class PartRecord:
    """One part's record. Weld values are None when the seam was not welded to its end."""

    part_id: str
    shift_id: int
    started_at: float
    finished_at: float
    outcome: Outcome
    reason: str
    cycle_time_s: float | None
    mean_current_A: float | None
    mean_voltage_V: float | None
    mean_wire_feed_m_min: float | None
    mean_travel_speed_mm_s: float | None
    arc_energy_kJ: float | None
    weld_time_s: float | None
    bead_width_mm: float | None
    penetration_mm: float | None
    imperfections: tuple[str, ...]
    iso5817_level: str
    weld_policy: str
    feed_policy: str
    backends: dict[str, str]
    config_hash: str
    #: device -> signal -> (rms, max_abs, samples) of twin − real, for devices in shadow
    divergence: dict[str, dict[str, tuple[float, float, int]]] = field(default_factory=dict)
    #: component -> what the part used and its price (core/costs.part_costs); empty before schema 4
    costs: dict[str, CostLine] = field(default_factory=dict)
    #: the ISO 4217 currency of the cost amounts ('' when unpriced)
    currency: str = ""
    #: who judged the weld and what they said (the welder's own result, the inspection's prediction)
    judgements: tuple[Judgement, ...] = ()

    @property
    def good(self) -> bool:
        return self.outcome is Outcome.GOOD


@dataclass(frozen=True)
class OpenPart:
    """A part id handed out whose part has no record yet (it is in the cell, or was when a crash came)."""

    part_id: str
    shift_id: int | None
    entered_at: float


@dataclass(frozen=True)
class ShiftSummary:
    """A shift's figures from the journal. Produced parts are the good, the defective and those that need
    inspection; arc energy per good part is all arc energy spent in the shift (scrap included) over the
    good parts."""

    shift_id: int
    status: str
    parts_target: int
    parts: int
    good: int
    defective: int
    interrupted: int
    scrapped: int
    mean_cycle_time_s: float
    arc_energy_per_good_part_kJ: float
    total_time_s: float
    #: produced parts waiting for an operator's verdict (`cellctl inspect`)
    needs_inspection: int = 0


#: the fields of PartRecord stored in other tables than `parts`
_NOT_COLUMNS = ("divergence", "costs", "currency", "judgements")
_COLUMNS = [f.name for f in fields(PartRecord) if f.name not in _NOT_COLUMNS]
T = TypeVar("T")


def part_row(record: PartRecord) -> dict[str, object]:
    """`record` as its row of the `parts` table: column -> value as stored (lists and mappings as JSON)."""
    row = {name: value for name, value in asdict(record).items() if name not in _NOT_COLUMNS}
    row["outcome"] = Outcome(record.outcome).value
    row["imperfections"] = json.dumps(list(record.imperfections))
    row["backends"] = json.dumps(record.backends, sort_keys=True)
    return row


def _insert_judgement(db: sqlite3.Connection, part_id: str, judgement: Judgement) -> None:
    db.execute("INSERT INTO inspections(part_id, source, status, level, verdict, p_worse_than_c, imperfections, "
               "reason, judge, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (part_id, *judgement[:5], json.dumps(list(judgement.imperfections)), *judgement[6:]))


class Journal:
    """The production journal at `path` (created if absent, migrated if older), used by one thread at a
    time (it may be opened on one thread and used on the node's spinning thread).

    The writer (the supervisor) marks shifts a crash left 'running' as 'interrupted' on open and
    lists them in `interrupted_shifts`; a reader (`writer=False`, e.g. `cellctl summary` during a
    shift) leaves them be.
    """

    def __init__(self, path: str | Path, writer: bool = True):
        self.path = Path(path)
        self.pending_events: list[tuple[int | None, float, str, str, str, float | None]] = []
        self.dropped_events = 0
        self._last_flush_s = 0.0
        self.interrupted_shifts: list[int] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0, check_same_thread=False)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise JournalError(f"{self.path}: SQLite refused WAL mode (got {mode})")
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()  # foreign keys off: a migration may rebuild a table others refer to
            self._db.execute("PRAGMA foreign_keys=ON")
            if writer:
                self.interrupted_shifts = [row[0] for row in self._db.execute(
                    "SELECT id FROM shifts WHERE status='running' ORDER BY id")]
                self._db.execute("UPDATE shifts SET status='interrupted', ended_at=? WHERE status='running'",
                                 (time.time(),))
        except (sqlite3.Error, OSError) as error:
            raise JournalError(f"{self.path}: cannot open the journal: {error}") from error

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise JournalError(f"{self.path}: journal schema {version} is newer than this program's "
                               f"({SCHEMA_VERSION}); use a newer cell_controller or another journal")
        if version == SCHEMA_VERSION:
            return
        def has_column(table: str, column: str) -> bool:
            return self._db.execute(f"SELECT 1 FROM pragma_table_info('{table}') WHERE name=?",
                                    (column,)).fetchone() is not None

        script = _MIGRATE_FROM_0.format(schema=SCHEMA) if has_column("parts", "good") else SCHEMA
        if has_column("events", "id") and not has_column("events", "cell_time_s"):
            script += _ADD_EVENT_CELL_TIME
        parts_sql = self._db.execute("SELECT sql FROM sqlite_master WHERE name='parts'").fetchone()
        if parts_sql is not None and not has_column("parts", "good") and \
                f"'{Outcome.NEEDS_INSPECTION.value}'" not in parts_sql[0]:
            script += _REBUILD_PARTS.format(parts_v5=_parts_table("parts_v5"))
        try:
            self._db.executescript(f"BEGIN IMMEDIATE; {script} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
        except sqlite3.Error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Write what events are pending (if the journal can) and close."""
        try:
            self.flush_events()
        except JournalError:
            pass  # closing anyway: the caller has been told by the failed write before
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            with self._db:  # COMMIT, or ROLLBACK on error
                self._db.execute("BEGIN IMMEDIATE")
                return work(self._db)
        except sqlite3.Error as error:
            raise JournalError(f"{self.path}: {error}") from error

    def _write(self, sql: str, args: tuple) -> int:
        return self._transaction(lambda db: db.execute(sql, args).lastrowid or 0)

    # -- shifts and parts ------------------------------------------------------------------

    def begin_shift(self, parts_target: int, config_hash: str) -> int:
        return self._write(
            "INSERT INTO shifts(started_at, status, parts_target, config_hash) VALUES (?, 'running', ?, ?)",
            (time.time(), parts_target, config_hash),
        )

    def end_shift(self, shift_id: int, status: str) -> None:
        self._write("UPDATE shifts SET status=?, ended_at=? WHERE id=?", (status, time.time(), shift_id))

    def allocate_part(self, shift_id: int | None) -> str:
        """The next part id, committed before the part enters the cell; never handed out again."""
        def allocate(db: sqlite3.Connection) -> str:
            number = db.execute("INSERT INTO entries(shift_id, entered_at) VALUES (?, ?)",
                                (shift_id, time.time())).lastrowid
            part_id = PART_ID_FORMAT.format(number)
            db.execute("UPDATE entries SET part_id=? WHERE number=?", (part_id, number))
            return part_id
        return self._transaction(allocate)

    def record_part(self, record: PartRecord) -> None:
        """Commit one part's record; return only after the commit is durable.

        A part id the journal never handed out (a part found on a device) gets its entry in the
        same transaction; a part that already has a record is refused (JournalError).
        """
        row = part_row(record)
        placeholders = ", ".join("?" for _ in _COLUMNS)

        def insert(db: sqlite3.Connection) -> None:
            # only when missing: an ignored INSERT would still advance the AUTOINCREMENT sequence
            db.execute("INSERT INTO entries(part_id, shift_id, entered_at) SELECT ?, ?, ? "
                       "WHERE NOT EXISTS (SELECT 1 FROM entries WHERE part_id=?)",
                       (record.part_id, record.shift_id, record.started_at, record.part_id))
            db.execute(f"INSERT INTO parts({', '.join(_COLUMNS)}) VALUES ({placeholders})",
                       tuple(row[c] for c in _COLUMNS))
            db.executemany("INSERT INTO divergence(part_id, device, signal, rms, max_abs, samples) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           [(record.part_id, device, signal, *figures)
                            for device, signals in record.divergence.items() for signal, figures in signals.items()])
            db.executemany("INSERT INTO part_costs(part_id, component, quantity, unit, amount, currency) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           [(record.part_id, component, *line, record.currency)
                            for component, line in record.costs.items()])
            for judgement in record.judgements:
                _insert_judgement(db, record.part_id, judgement)
        self._transaction(insert)

    def set_verdict(self, part_id: str, verdict: Outcome, user: str) -> Outcome:
        """An operator's verdict (good or defective) on a part routed to manual inspection (or judged by an
        operator before): the part's outcome, a judgement and an event, in one transaction. Returns the
        outcome it had; VerdictRefused naming the part when it has no record or was judged by its weld's
        own result or a confident inspection (nothing is written)."""
        if verdict not in (Outcome.GOOD, Outcome.DEFECTIVE):
            raise ValueError(f"a verdict is good or defective, got {verdict.value!r}")

        def judge(db: sqlite3.Connection) -> Outcome:
            row = db.execute("SELECT outcome, shift_id FROM parts WHERE part_id=?", (part_id,)).fetchone()
            if row is None:
                raise VerdictRefused(f"{self.path}: no record of part {part_id!r}")
            before = Outcome(row[0])
            by_operator = db.execute("SELECT 1 FROM inspections WHERE part_id=? AND source='operator'",
                                     (part_id,)).fetchone() is not None
            if before is not Outcome.NEEDS_INSPECTION and not by_operator:
                raise VerdictRefused(f"part {part_id} was judged {before.value} without an operator: only a part "
                                   f"routed to manual inspection ({Outcome.NEEDS_INSPECTION.value}) takes a verdict")
            now = time.time()
            db.execute("UPDATE parts SET outcome=? WHERE part_id=?", (verdict.value, part_id))
            _insert_judgement(db, part_id, Judgement("operator", "known", "", verdict.value, None, (), "", user, now))
            db.execute("INSERT INTO events(shift_id, at, kind, source, detail) VALUES (?, ?, 'inspect', ?, ?)",
                       (row[1], now, user[:100], f"{part_id} {before.value} -> {verdict.value} by {user}"))
            return before
        return self._transaction(judge)

    def judgements(self, part_id: str) -> list[Judgement]:
        """Every judgement of a part's weld, oldest first."""
        rows = self._db.execute("SELECT source, status, level, verdict, p_worse_than_c, imperfections, reason, "
                                "judge, at FROM inspections WHERE part_id=? ORDER BY at, rowid", (part_id,))
        return [Judgement(*row[:5], tuple(json.loads(row[5])), *row[6:]) for row in rows]

    def level_agreement(self, shift_id: int) -> dict[tuple[str, str], int]:
        """(the welder's own level, the inspection's level) -> parts of the shift judged by both."""
        rows = self._db.execute(
            "SELECT d.level, i.level, COUNT(*) FROM inspections d JOIN inspections i USING (part_id) "
            "JOIN parts p USING (part_id) WHERE p.shift_id=? AND d.source='device' AND i.source='inspection' "
            "GROUP BY d.level, i.level", (shift_id,))
        return {(device, inspection or "unknown"): n for device, inspection, n in rows}

    def open_parts(self) -> list[OpenPart]:
        """Part ids handed out that have no record yet, oldest first."""
        rows = self._db.execute(
            "SELECT e.part_id, e.shift_id, e.entered_at FROM entries e LEFT JOIN parts p USING (part_id) "
            "WHERE p.part_id IS NULL AND e.part_id IS NOT NULL ORDER BY e.number").fetchall()
        return [OpenPart(*row) for row in rows]

    def has_record(self, part_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM parts WHERE part_id=?", (part_id,)).fetchone() is not None

    # -- events ----------------------------------------------------------------------------

    def log_event(self, shift_id: int | None, kind: str, source: str, detail: str,
                  cell_time_s: float | None = None) -> None:
        """Queue an event (never raises): written with the next `flush_events`, at most EVENT_FLUSH_S later.
        cell_time_s: the devices' clock when it happened, s (None: unknown)."""
        if len(self.pending_events) >= MAX_PENDING_EVENTS:
            self.dropped_events += 1
            return
        if len(detail) > MAX_EVENT_DETAIL_CHARS:
            detail = detail[:MAX_EVENT_DETAIL_CHARS - 1] + "…"
        self.pending_events.append((shift_id, time.time(), kind, source[:100], detail, cell_time_s))

    @property
    def events_due(self) -> bool:
        """Events are waiting and the last write of events is EVENT_FLUSH_S ago."""
        return bool(self.pending_events or self.dropped_events) and \
            time.monotonic() - self._last_flush_s >= EVENT_FLUSH_S

    def flush_events(self) -> int:
        """Write every pending event in one transaction; return how many. On JournalError they stay pending."""
        if not self.pending_events and not self.dropped_events:
            return 0
        events = list(self.pending_events)
        if self.dropped_events:
            shift_id = events[-1][0] if events else None
            events.append((shift_id, time.time(), "fault", "journal",
                           f"{self.dropped_events} events dropped while the journal could not write", None))
        self._last_flush_s = time.monotonic()
        self._transaction(lambda db: db.executemany(
            "INSERT INTO events(shift_id, at, kind, source, detail, cell_time_s) VALUES (?, ?, ?, ?, ?, ?)", events))
        self.pending_events.clear()
        self.dropped_events = 0
        return len(events)

    def events(self, shift_id: int) -> list[tuple[float, str, str, str]]:
        """The shift's events in order (pending ones written first)."""
        self.flush_events()
        return self._db.execute(
            "SELECT at, kind, source, detail FROM events WHERE shift_id=? ORDER BY id", (shift_id,)
        ).fetchall()

    def event_rows(self, shift_id: int | None = None) -> list[tuple[int | None, float, str, str, str, float | None]]:
        """(shift_id, at, kind, source, detail, cell_time_s) of every event (of one shift), in order."""
        self.flush_events()
        sql = "SELECT shift_id, at, kind, source, detail, cell_time_s FROM events"
        rows = (self._db.execute(sql + " WHERE shift_id=? ORDER BY id", (shift_id,)) if shift_id is not None
                else self._db.execute(sql + " ORDER BY id"))
        return rows.fetchall()

    def step_log(self, shift_id: int) -> list[StepEvent]:
        """The shift's sequence steps, their starts and ends in order (pending events written first)."""
        self.flush_events()
        rows = self._db.execute("SELECT at, cell_time_s, source, detail FROM events WHERE shift_id=? AND kind='step' "
                                "ORDER BY id", (shift_id,))
        return [StepEvent(at, cell_s, device, *words) for at, cell_s, device, detail in rows
                if len(words := detail.split(" ")) == 3]

    def state_log(self, shift_id: int) -> list[StateChange]:
        """The shift's PackML transitions in order (pending events written first)."""
        self.flush_events()
        rows = self._db.execute("SELECT at, cell_time_s, detail FROM events WHERE shift_id=? AND kind='state' "
                                "ORDER BY id", (shift_id,))
        return [change for change in (StateChange.parse(*row) for row in rows) if change is not None]

    # -- reading ---------------------------------------------------------------------------

    def parts(self, shift_id: int | None = None) -> list[PartRecord]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM parts"
        rows = (self._db.execute(sql + " WHERE shift_id=? ORDER BY started_at, rowid", (shift_id,))
                if shift_id is not None else self._db.execute(sql + " ORDER BY started_at, rowid"))
        records = []
        for row in rows:
            values = dict(zip(_COLUMNS, row))
            values["outcome"] = Outcome(values["outcome"])
            values["imperfections"] = tuple(json.loads(values["imperfections"]))
            values["backends"] = json.loads(values["backends"])
            costs, currency = self._costs(values["part_id"])
            records.append(PartRecord(**values, divergence=self._divergence(values["part_id"]), costs=costs,
                                      currency=currency))
        return records

    def _costs(self, part_id: str) -> tuple[dict[str, CostLine], str]:
        rows = self._db.execute("SELECT component, quantity, unit, amount, currency FROM part_costs WHERE part_id=? "
                                "ORDER BY rowid", (part_id,)).fetchall()
        return {c: CostLine(q, u, a) for c, q, u, a, _ in rows}, (rows[0][4] if rows else "")

    def _divergence(self, part_id: str) -> dict[str, dict[str, tuple[float, float, int]]]:
        out: dict[str, dict[str, tuple[float, float, int]]] = {}
        for device, signal, rms, max_abs, samples in self._db.execute(
                "SELECT device, signal, rms, max_abs, samples FROM divergence WHERE part_id=? ORDER BY device, signal",
                (part_id,)):
            out.setdefault(device, {})[signal] = (rms, max_abs, samples)
        return out

    def last_shift_id(self) -> int | None:
        return self._db.execute("SELECT MAX(id) FROM shifts").fetchone()[0]

    def summary(self, shift_id: int) -> ShiftSummary:
        shift = self._db.execute(
            "SELECT status, started_at, ended_at, parts_target FROM shifts WHERE id=?", (shift_id,)
        ).fetchone()
        if shift is None:
            raise JournalError(f"{self.path}: no shift {shift_id}")
        status, started, ended, target = shift
        produced = ", ".join(f"'{o.value}'" for o in PRODUCED)
        n, good, defective, interrupted, scrapped, unjudged, cycle, energy, last = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(outcome='good'), 0), COALESCE(SUM(outcome='defective'), 0), "
            "COALESCE(SUM(outcome='interrupted'), 0), COALESCE(SUM(outcome='scrapped'), 0), "
            "COALESCE(SUM(outcome='needs_inspection'), 0), "
            f"AVG(CASE WHEN outcome IN ({produced}) THEN cycle_time_s END), "
            "COALESCE(SUM(arc_energy_kJ), 0), MAX(finished_at) "
            "FROM parts WHERE shift_id=?", (shift_id,)
        ).fetchone()
        end = ended or last or started
        return ShiftSummary(
            shift_id=shift_id, status=status, parts_target=target, parts=n, good=good, defective=defective,
            interrupted=interrupted, scrapped=scrapped, mean_cycle_time_s=cycle or 0.0,
            arc_energy_per_good_part_kJ=energy / good if good else 0.0, total_time_s=end - started,
            needs_inspection=unjudged,
        )

    def integrity_ok(self) -> bool:
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
