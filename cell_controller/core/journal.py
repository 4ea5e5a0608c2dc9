"""The production journal: SQLite in WAL mode with synchronous=FULL.

One row per finished part, written in one transaction: a record is acknowledged only
after its commit returns, so a crash leaves either the whole record or none. An event
log keeps state transitions and faults. Summaries are computed from the database.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS shifts (
    id            INTEGER PRIMARY KEY,
    started_at    REAL NOT NULL,           -- Unix time, s
    ended_at      REAL,                    -- Unix time, s; NULL while running
    status        TEXT NOT NULL,           -- running | complete | stopped | aborted | interrupted
    parts_target  INTEGER NOT NULL,
    config_hash   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    part_id                 TEXT PRIMARY KEY,
    shift_id                INTEGER NOT NULL REFERENCES shifts(id),
    started_at              REAL NOT NULL,  -- Unix time, s
    finished_at             REAL NOT NULL,  -- Unix time, s
    cycle_time_s            REAL NOT NULL,  -- cell time since the previous part left (the first: since its feed)
    mean_current_A          REAL NOT NULL,
    mean_voltage_V          REAL NOT NULL,
    mean_wire_feed_m_min    REAL NOT NULL,
    mean_travel_speed_mm_s  REAL NOT NULL,
    arc_energy_kJ           REAL NOT NULL,
    weld_time_s             REAL NOT NULL,
    bead_width_mm           REAL NOT NULL,
    penetration_mm          REAL NOT NULL,
    imperfections           TEXT NOT NULL,  -- JSON list of ISO 6520-1 names
    iso5817_level           TEXT NOT NULL,  -- B | C | D | fail
    good                    INTEGER NOT NULL,
    weld_policy             TEXT NOT NULL,
    feed_policy             TEXT NOT NULL,
    backends                TEXT NOT NULL,  -- JSON {device: twin|real}
    config_hash             TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id        INTEGER PRIMARY KEY,
    shift_id  INTEGER,
    at        REAL NOT NULL,                -- Unix time, s
    kind      TEXT NOT NULL,                -- state | fault | info
    source    TEXT NOT NULL,
    detail    TEXT NOT NULL
);
"""


class JournalError(RuntimeError):
    """The journal could not commit; the record was not stored."""


@dataclass(frozen=True)
class PartRecord:
    part_id: str
    shift_id: int
    started_at: float
    finished_at: float
    cycle_time_s: float
    mean_current_A: float
    mean_voltage_V: float
    mean_wire_feed_m_min: float
    mean_travel_speed_mm_s: float
    arc_energy_kJ: float
    weld_time_s: float
    bead_width_mm: float
    penetration_mm: float
    imperfections: tuple[str, ...]
    iso5817_level: str
    good: bool
    weld_policy: str
    feed_policy: str
    backends: dict[str, str]
    config_hash: str


@dataclass(frozen=True)
class ShiftSummary:
    """A shift's figures from the journal. Arc energy per good part is all arc energy
    spent in the shift (defective parts included) divided by the good parts."""

    shift_id: int
    status: str
    parts_target: int
    parts: int
    good: int
    defective: int
    mean_cycle_time_s: float
    arc_energy_per_good_part_kJ: float
    total_time_s: float


_COLUMNS = [f.name for f in fields(PartRecord)]


class Journal:
    """The production journal at `path` (created if absent). Not shared across threads.

    The writer (the supervisor) marks shifts a crash left 'running' as 'interrupted' on
    open; a reader (`writer=False`, e.g. `cellctl summary` during a shift) leaves them be.
    """

    def __init__(self, path: str | Path, writer: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise JournalError(f"{self.path}: SQLite refused WAL mode (got {mode})")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        if writer:
            self._db.execute(
                "UPDATE shifts SET status='interrupted', ended_at=? WHERE status='running'", (time.time(),)
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, args: tuple) -> int:
        try:
            with self._db:  # BEGIN ... COMMIT, ROLLBACK on error
                self._db.execute("BEGIN IMMEDIATE")
                return self._db.execute(sql, args).lastrowid or 0
        except sqlite3.Error as error:
            raise JournalError(f"{self.path}: {error}") from error

    def begin_shift(self, parts_target: int, config_hash: str) -> int:
        return self._write(
            "INSERT INTO shifts(started_at, status, parts_target, config_hash) VALUES (?, 'running', ?, ?)",
            (time.time(), parts_target, config_hash),
        )

    def end_shift(self, shift_id: int, status: str) -> None:
        self._write("UPDATE shifts SET status=?, ended_at=? WHERE id=?", (status, time.time(), shift_id))

    def record_part(self, record: PartRecord) -> None:
        """Commit one part's record; return only after the commit is durable."""
        row = asdict(record)
        row["imperfections"] = json.dumps(list(record.imperfections))
        row["backends"] = json.dumps(record.backends, sort_keys=True)
        row["good"] = int(record.good)
        placeholders = ", ".join("?" for _ in _COLUMNS)
        self._write(f"INSERT INTO parts({', '.join(_COLUMNS)}) VALUES ({placeholders})",
                    tuple(row[c] for c in _COLUMNS))

    def log_event(self, shift_id: int | None, kind: str, source: str, detail: str) -> None:
        self._write("INSERT INTO events(shift_id, at, kind, source, detail) VALUES (?, ?, ?, ?, ?)",
                    (shift_id, time.time(), kind, source, detail))

    def next_part_number(self) -> int:
        """1 + the number of parts ever recorded (part ids stay unique across shifts)."""
        return self._db.execute("SELECT COUNT(*) FROM parts").fetchone()[0] + 1

    def parts(self, shift_id: int | None = None) -> list[PartRecord]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM parts"
        rows = (self._db.execute(sql + " WHERE shift_id=? ORDER BY started_at", (shift_id,))
                if shift_id is not None else self._db.execute(sql + " ORDER BY started_at"))
        records = []
        for row in rows:
            values = dict(zip(_COLUMNS, row))
            values["imperfections"] = tuple(json.loads(values["imperfections"]))
            values["backends"] = json.loads(values["backends"])
            values["good"] = bool(values["good"])
            records.append(PartRecord(**values))
        return records

    def events(self, shift_id: int) -> list[tuple[float, str, str, str]]:
        return self._db.execute(
            "SELECT at, kind, source, detail FROM events WHERE shift_id=? ORDER BY id", (shift_id,)
        ).fetchall()

    def last_shift_id(self) -> int | None:
        return self._db.execute("SELECT MAX(id) FROM shifts").fetchone()[0]

    def summary(self, shift_id: int) -> ShiftSummary:
        shift = self._db.execute(
            "SELECT status, started_at, ended_at, parts_target FROM shifts WHERE id=?", (shift_id,)
        ).fetchone()
        if shift is None:
            raise JournalError(f"{self.path}: no shift {shift_id}")
        status, started, ended, target = shift
        n, good, cycle, energy, last = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(good), 0), AVG(cycle_time_s), "
            "COALESCE(SUM(arc_energy_kJ), 0), MAX(finished_at) "
            "FROM parts WHERE shift_id=?", (shift_id,)
        ).fetchone()
        end = ended or last or started
        return ShiftSummary(
            shift_id=shift_id,
            status=status,
            parts_target=target,
            parts=n,
            good=good,
            defective=n - good,
            mean_cycle_time_s=cycle or 0.0,
            arc_energy_per_good_part_kJ=energy / good if good else 0.0,
            total_time_s=end - started,
        )

    def integrity_ok(self) -> bool:
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
