"""cellctl: the cell's command line.

  cellctl shift   [--config FILE] [--parts N] [--timeout S] [--log-dir DIR] [--manual-start] [--hmi]
                                                run an autonomous shift (twin devices included)
  cellctl hmi     [--config FILE] [--bind ADDR:PORT]
                                                serve the operator page for the running cell
  cellctl check   [--config FILE]               validate a cell description and probe every device endpoint
                                                (identity, conformance; divergence of shadow devices)
  cellctl swap DEVICE twin|real|shadow [--config FILE] [--timeout S]
                                                move a device of the running cell to another backend
  cellctl map-device ENDPOINT --kind KIND [-o FILE]
                                                draft a mapping file from a vendor's OPC UA server
  cellctl summary [--config FILE] [--shift ID]  a shift's figures and cell KPIs from the production journal
  cellctl inspect PART good|defective [--user NAME] [--config FILE]
                                                an operator's verdict on a part routed to manual inspection
  cellctl compare [--parts N] [--full N] [--seed S] [--out FILE] [--config FILE]
                                                baseline vs autonomous cell on the same seeds, 95 % intervals
  cellctl report [--shift ID] [--baseline ID] [--out FILE] [--config FILE]
                                                a shift as an HTML page (KPIs, timeline, quality, energy, cost)
  cellctl export -o DIR [--format csv|parquet] [--shift ID] [--config FILE]
                                                parts, events and cost lines for the plant's analytics
  cellctl record  [-o DIR] [--namespace NS] [--duration S] [TOPIC ...]
                                                record topics of a running cell to a rosbag2 (MCAP) bag
  cellctl calibrate --bag DIR [-o FILE] [--config FILE]
                                                fit the twin's physical parameters to a recorded cell's welds
  cellctl keys [-o DIR] [--name CELL] [--host NAME ...]
                                                create the cell's OPC UA key (mode 0600) and certificate
  cellctl users add NAME --role operator|viewer --file FILE
                                                add an account to the northbound server's accounts file
  cellctl weld-plot [--seed N] [--out PNG] ...  weld one seeded joint in the twin and draw it
  cellctl train weld|feed [...]                 train a policy in the twin (PPO, zoo-style YAML)
  cellctl evaluate weld|feed [...]              evaluate policies on held-out seeds against the baselines

Exit codes: 0 done, 1 the shift failed (a reason on stderr), 2 bad input (nothing started), 130 interrupted.
"""
from __future__ import annotations

import argparse
import getpass
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cell_controller.core.config import CellConfig, ConfigError, load_cell
from cell_controller.core.journal import Journal, JournalError, Outcome, VerdictRefused
from cell_controller.shift_figures import print_shift
from cell_controller.launch_plan import LaunchPlan, TwinPlan, launch_plan
from cell_controller.preflight import PreflightError, check_description, port_open, preflight

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130
#: how long the twin's servers may take to listen, s
TWIN_START_TIMEOUT_S = 90.0
#: how long a node may take to leave after SIGINT before it is killed, s
STOP_GRACE_S = 4.0
#: the default shift deadline: this long for start-up and clean-out, wall s ...
SHIFT_STARTUP_S = 120.0
#: ... plus this many ideal cycles per part (in cell time, divided by the time scale)
SHIFT_CYCLES_PER_PART = 4.0
#: after the deadline, how long the cell may take to stop on a Stop command before it is killed, s
DEADLINE_STOP_S = 15.0
#: a dead process of the cell is noticed within this, s (the watch loop's period is a tenth of it)
WATCH_PERIOD_S = 0.1
TERMINAL_STATES = ("Complete", "Stopped", "Aborted")

def default_config() -> Path:
    """config/cell.yaml of the checkout, else the installed package's copy."""
    here = Path("config/cell.yaml")
    return here if here.exists() else Path(sys.prefix) / "share/cell_controller/config/cell.yaml"


class BadInput(Exception):
    """Input that stops a command before it starts anything."""


def _executable(script: str) -> str:
    """The console script next to this interpreter (the venv's bin), else from PATH."""
    local = Path(sys.executable).with_name(script)
    return str(local) if local.exists() else script


class Cell:
    """The processes of one shift, as `launch_plan` says: the twin and every node, each with its own log."""

    def __init__(self, plan: LaunchPlan, log_dir: Path, environ: dict[str, str] | None = None):
        self.plan, self.log_dir = plan, log_dir
        self.environ = dict(os.environ if environ is None else environ)
        self.processes: dict[str, subprocess.Popen] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def _spawn(self, name: str, argv: list[str]) -> None:
        env = {**self.environ, **self.plan.environment, "PYTHONUNBUFFERED": "1"}
        log = open(self.log_dir / f"{name}.log", "a")  # a restarted process continues its log
        self.processes[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                                stdin=subprocess.DEVNULL)

    def start_servers(self) -> None:
        """The twin, and the plant where the description has one; back once every endpoint listens."""
        for server in (self.plan.twin, self.plan.plant):
            if server is not None:
                self.start_server(server)

    def start_server(self, server: TwinPlan) -> None:
        self._spawn(server.name, [_executable(server.executable), *server.arguments])
        deadline = time.monotonic() + TWIN_START_TIMEOUT_S
        while not all(port_open(host, port, 0.2) for host, port in server.endpoints):
            if self.processes[server.name].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {server.name} did not start: see {self.log_dir / f'{server.name}.log'}")
            time.sleep(0.2)

    def start_nodes(self) -> None:
        for node in self.plan.nodes:
            self._spawn(node.name, [_executable(node.executable), *node.ros_arguments])

    def dead(self, essential: bool = True) -> list[str]:
        """The processes that ended: those the cell needs (`essential`), or the others (the operator page)."""
        optional = {n.name for n in self.plan.nodes if not n.essential}
        return [name for name, p in self.processes.items()
                if p.poll() is not None and (name not in optional) == essential]

    def stop(self) -> None:
        """SIGINT to every process, SIGKILL to any still there after STOP_GRACE_S."""
        for p in self.processes.values():
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_S
        for p in self.processes.values():
            try:
                p.wait(max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _shift_over(state: dict[str, str]) -> bool:
    """The supervisor's /cell/state says the shift has ended (it starts out Stopped)."""
    return state.get("state") == "Aborted" or (bool(state.get("shift_id")) and state.get("state") in TERMINAL_STATES)


def default_timeout_s(config: CellConfig, parts: int) -> float:
    """The shift's deadline when `--timeout` is not given, wall s."""
    return SHIFT_STARTUP_S + parts * SHIFT_CYCLES_PER_PART * config.supervisor.ideal_cycle_s / config.time_scale


@dataclass(frozen=True)
class ShiftEnd:
    """How the watch ended: the last PackML state, and why it failed (None: it did not)."""

    state: str
    failure: str | None = None


def _watch(config: CellConfig, cell: Cell, parts: int, deadline_s: float, stop: threading.Event) -> ShiftEnd:
    """Show progress from /cell/state until the shift ends, a process of the cell dies, the deadline
    passes (the cell is then stopped by a Stop command) or `stop` is set."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cell_controller.bus import create_node
    from cell_controller.nodes import topics
    from cell_controller.nodes.codec import Codec

    os.environ.update(cell.plan.environment)
    node = create_node("cellctl", ["--ros-args", "-r", f"__ns:={config.namespace}"])
    latest: dict[str, str] = {}
    node.create_subscription(topics.CELL_STATE.type, topics.CELL_STATE.name,
                             lambda msg: latest.update(Codec.values(msg)), topics.CELL_STATE.qos)
    command = node.create_publisher(topics.CELL_COMMAND.type, topics.CELL_COMMAND.name, topics.CELL_COMMAND.qos)
    codec = Codec(node)
    console = Console()
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[state]}"), TextColumn("last weld: {task.fields[quality]}"),
               TimeElapsedColumn()]
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("parts", total=parts, state="starting", quality="-")
            ended: set[str] = set()
            while not _shift_over(latest) and not stop.is_set():
                node.spin_once(WATCH_PERIOD_S)
                dead = cell.dead()
                if dead:
                    return ShiftEnd(latest.get("state", ""), f"{', '.join(dead)} stopped: see the logs in {cell.log_dir}")
                for name in set(cell.dead(essential=False)) - ended:
                    ended.add(name)
                    console.print(f"cellctl: {name} stopped (the cell runs on): see {cell.log_dir / f'{name}.log'}")
                if time.monotonic() > deadline_s:
                    return _stop_at_deadline(node, command, codec, latest, cell)
                last = latest.get("last_part_id")
                progress.update(task, completed=int(latest.get("parts_done", 0) or 0),
                                state=f"PackML {latest.get('state', 'starting')}",
                                quality=f"{last} ISO 5817 {latest.get('last_quality')}" if last else "-")
        return ShiftEnd(latest.get("state", ""))
    finally:
        node.shutdown()


def _stop_at_deadline(node, command, codec, latest: dict[str, str], cell: Cell) -> ShiftEnd:
    """The shift ran out of time: ask the cell to stop (it closes the shift), wait for it, bounded."""
    command.publish(codec.string("stop user=cellctl"))
    until = time.monotonic() + DEADLINE_STOP_S
    while latest.get("state") not in ("Stopped", "Aborted") and time.monotonic() < until and not cell.dead():
        node.spin_once(WATCH_PERIOD_S)
    return ShiftEnd(latest.get("state", ""), f"the shift did not end before its deadline "
                    f"(--timeout); the cell was stopped in {latest.get('state', 'an unknown state')}")


def _watch_until_interrupted(config: CellConfig, cell: Cell, parts: int, deadline_s: float,
                             interrupted: list) -> ShiftEnd | None:
    """Like `_watch`, returning None at once when SIGINT or SIGTERM arrives."""
    result: list[ShiftEnd | BaseException] = []
    stop = threading.Event()

    def target() -> None:
        try:
            result.append(_watch(config, cell, parts, deadline_s, stop))
        except BaseException as error:  # handed to the main thread
            result.append(error)
    watcher = threading.Thread(target=target, daemon=True)
    watcher.start()
    while watcher.is_alive() and not interrupted:
        watcher.join(WATCH_PERIOD_S)
    if interrupted:
        stop.set()
        watcher.join(2.0)
        print("cellctl: interrupted; stopping the cell", file=sys.stderr)
        return None
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _last_shift(journal_path: Path) -> int | None:
    if not journal_path.exists():
        return None
    with Journal(journal_path, writer=False) as journal:
        return journal.last_shift_id()


def cmd_shift(args: argparse.Namespace) -> int:
    config = load_cell(args.config)
    parts = args.parts or config.parts_per_shift
    if parts < 1:
        raise BadInput(f"--parts: expected a positive number of parts, got {parts}")
    if args.timeout is not None and not args.timeout > 0:
        raise BadInput(f"--timeout: expected a positive number of seconds, got {args.timeout}")
    preflight(config)
    if args.hmi:
        _check_hmi(config, config.hmi.host, config.hmi.port)
    timeout_s = args.timeout or default_timeout_s(config, parts)
    before = _last_shift(config.journal_path)
    log_dir = (args.log_dir or config.logs_path) / time.strftime("%Y%m%d-%H%M%S")
    cell = Cell(launch_plan(config.path, parts, os.environ, auto_start=not args.manual_start, hmi=args.hmi), log_dir)
    interrupted: list[int] = []
    signal.signal(signal.SIGINT, lambda *_: interrupted.append(1))
    signal.signal(signal.SIGTERM, lambda *_: interrupted.append(1))
    try:
        cell.start_servers()
        cell.start_nodes()
        end = _watch_until_interrupted(config, cell, parts, time.monotonic() + timeout_s, interrupted)
    except RuntimeError as error:
        end = ShiftEnd("", str(error))
    finally:
        cell.stop()
    shift_id = _last_shift(config.journal_path)
    if shift_id is not None and shift_id != before:
        with Journal(config.journal_path, writer=False) as journal:
            print_shift(journal, shift_id, config)
    else:
        print(f"cellctl: no shift was started; the logs are in {log_dir}", file=sys.stderr)
    if interrupted:
        return EXIT_INTERRUPTED
    assert end is not None
    if end.failure is not None:
        print(f"cellctl: {end.failure}", file=sys.stderr)
        return EXIT_FAILED
    if end.state != "Complete":
        print(f"cellctl: the shift ended in {end.state or 'no known state'}; see {log_dir}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _check_hmi(config: CellConfig, host: str, port: int) -> None:
    """The operator page may listen at host:port with its accounts (ConfigError naming the key), and the port
    is free (BadInput): checked before anything starts."""
    from cell_controller.nodes.hmi import load_sessions, port_free

    load_sessions(config.hmi, config.path, host)
    if not port_free(host, port):
        raise BadInput(f"{config.path}: hmi.bind: {host}:{port} is in use (another HMI or program)")


def cmd_hmi(args: argparse.Namespace) -> int:
    """The operator page for the running cell, in the foreground until Ctrl-C (the node refuses, exit 2, a bind
    it may not serve)."""
    from cell_controller.core.config import parse_bind
    from cell_controller.nodes import hmi

    config = load_cell(args.config)
    host, port = parse_bind(args.bind, lambda reason: BadInput(f"--bind: {reason}")) if args.bind \
        else (config.hmi.host, config.hmi.port)
    os.environ.setdefault("ROS_DOMAIN_ID", str(config.domain_id))
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    hmi.main(["--ros-args", "-r", f"__ns:={config.namespace}", "-p", f"cell_config:={config.path}",
              "-p", f"bind:='{bind}'"])  # quoted: a parameter's value is YAML, and [::1] a YAML list
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """The description, then each device's endpoints: backend, identity, conformance (and for devices in
    shadow in a running cell, the current divergence). Exit 1 when a real device is unreachable or does not
    conform."""
    import asyncio

    from cell_controller.nodes.device_link import REAL, TWIN, probe
    from cell_controller.opcua.address_space import spec_for
    from cell_controller.opcua.client import LINK_ERRORS
    from cell_controller.remote import divergence_now

    config = load_cell(args.config)
    check_description(config)  # not preflight: the cell may be running (its ports in use) while it is checked
    print(f"{config.path}: ok ({len(config.devices)} devices, configuration hash {config.config_hash})")

    async def probe_all() -> list[tuple[str, str, str, str, str]]:
        rows = []
        for device in config.devices.values():
            spec = spec_for(device.kind.value)
            for where in (TWIN, REAL) if device.real is not None else (TWIN,):
                endpoint = device.endpoint if where == TWIN else device.real.endpoint
                if where == TWIN and not port_open(*device.host_port, 0.2):
                    rows.append((device.name, where, endpoint, "-", "not running (cellctl shift starts the twin)"))
                    continue
                try:
                    found = await probe(device, spec, where)
                except LINK_ERRORS as error:
                    rows.append((device.name, where, endpoint, "-", f"unreachable: {error}"))
                    continue
                rows.append((device.name, where, endpoint, found.application_uri,
                             "conforms" if not found.problems else "; ".join(found.problems[:3])))
        return rows
    rows = asyncio.run(probe_all())
    divergence = divergence_now(config, 1.0)
    for name, where, endpoint, uri, conformance in rows:  # one line per server: greppable
        print(f"{name}: {config.devices[name].backend.value}; {where} {endpoint} {uri}: {conformance}")
    for role, signals in divergence.items():
        worst = sorted(signals.items(), key=lambda item: -item[1][0])[:5]
        print(f"{role} in shadow, twin − real over 1 s: " +
              ", ".join(f"{signal} RMS {rms:.3g} max {peak:.3g}" for signal, (rms, peak, _) in worst))
    bad = [r for r in rows if r[1] == REAL and r[4] != "conforms"]
    return EXIT_FAILED if bad else 0


def cmd_swap(args: argparse.Namespace) -> int:
    """Ask the running cell to move a device to another backend; the answer once the bridge has made it."""
    from cell_controller.core.backends import SWAP_TIMEOUT_S
    from cell_controller.remote import CellNotRunning, send_command

    config = load_cell(args.config)
    try:
        answer = send_command(config, f"swap {args.device} {args.backend}", args.timeout or SWAP_TIMEOUT_S + 5.0,
                              until_key="swap_id")
    except (CellNotRunning, TimeoutError) as error:
        print(f"cellctl: {error}", file=sys.stderr)
        return EXIT_FAILED
    if answer.get("command_result") != "accepted" and answer.get("swap_id") != answer.get("command_id"):
        print(f"cellctl: swap {args.device} {args.backend} refused: {answer.get('command_reason', '')}", file=sys.stderr)
        return EXIT_FAILED
    result = answer.get("swap_result", "")
    if not result.startswith("done"):
        print(f"cellctl: swap {args.device} {args.backend} {result}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{args.device}: {args.backend}, {result} (backends now {answer.get('backends', '?')})")
    return 0


def cmd_map_device(args: argparse.Namespace) -> int:
    from cell_controller.opcua.drafting import map_device_main

    return map_device_main(args.endpoint, args.kind, args.output)


def _open_journal(config: CellConfig) -> Journal:
    """The description's journal for reading; BadInput when there is none yet."""
    if not config.journal_path.exists():
        raise BadInput(f"{config.journal_path}: no journal yet (run a shift first)")
    return Journal(config.journal_path, writer=False)


def _shift_of(journal: Journal, shift: int) -> int:
    """`shift` (0: the last) when the journal holds it; BadInput naming the journal otherwise."""
    shift_id = shift or journal.last_shift_id()
    if shift_id is None:
        raise BadInput(f"{journal.path}: the journal holds no shift")
    if journal.last_shift_id() is None or not 1 <= shift_id <= journal.last_shift_id():
        raise BadInput(f"--shift: {journal.path} has no shift {shift_id} (shifts 1..{journal.last_shift_id()})")
    return shift_id


def cmd_summary(args: argparse.Namespace) -> int:
    config = load_cell(args.config)
    with _open_journal(config) as journal:
        shift_id = _shift_of(journal, args.shift)
        print_shift(journal, shift_id, config)
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """An operator's verdict on a part that was routed to manual inspection."""
    config = load_cell(args.config)
    with _open_journal(config) as journal:
        try:
            before = journal.set_verdict(args.part, Outcome(args.verdict), args.user)
        except VerdictRefused as refused:
            raise BadInput(str(refused)) from None
    print(f"{args.part}: {before.value} -> {args.verdict} by {args.user}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from cell_controller.compare import HELD_OUT_SEED, compare_main

    load_cell(args.config)  # refused before anything runs
    if args.parts < 10:
        raise BadInput(f"--parts: expected at least 10 parts per cell for the intervals, got {args.parts}")
    if not 0 <= args.full <= args.parts:
        raise BadInput(f"--full: expected 0..{args.parts} parts (at most --parts), got {args.full}")
    seed = HELD_OUT_SEED if args.seed is None else args.seed
    if not 0 <= seed <= 20_000:
        raise BadInput(f"--seed: expected a cell seed 0..20000, got {seed}")
    return compare_main(args.config, args.parts, args.full, args.out, seed)


def cmd_report(args: argparse.Namespace) -> int:
    from cell_controller.report import write_report

    config = load_cell(args.config)
    with _open_journal(config) as journal:
        shift_id = _shift_of(journal, args.shift)
        baseline = _shift_of(journal, args.baseline) if args.baseline else None
        print(write_report(journal, shift_id, config, baseline, args.out))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from cell_controller.export import export

    config = load_cell(args.config)
    with _open_journal(config) as journal:
        shift_id = _shift_of(journal, args.shift) if args.shift else None
        for path in export(journal, shift_id, args.output, args.format):
            print(path)
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    """The cell's application key and self-signed certificate (its URI names the cell)."""
    from cell_controller.opcua.security import application_uri, make_keys

    name = args.name or load_cell(args.config).name
    folder = args.output or load_cell(args.config).journal_path.parent / "pki"
    key, certificate = make_keys(folder, name, args.host or None)
    print(f"{key} (mode 0600, never commit it)\n{certificate} ({application_uri(name)}): copy it into each "
          "device's trust list, and the devices' certificates into the folder devices.<name>.real.security.trust names")
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    """Add (or replace) an account: its password from the terminal, or the first line of stdin."""
    import getpass

    from cell_controller.opcua.users import Role, account_name_problem, add_account

    if account_name_problem(args.name):
        raise BadInput(f"users add: {account_name_problem(args.name)}")
    password = getpass.getpass(f"password for {args.name}: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        raise BadInput("users add: a password needs at least 8 characters")
    add_account(args.file, args.name, Role(args.role), password)
    print(f"{args.file}: {args.name} ({args.role}) added; the file is mode 0600")
    return 0


#: subcommands with a parser of their own: words -> "module:function" called with the rest of argv
DELEGATED = {
    ("record",): "cell_controller.bus.record:main_record",
    ("calibrate",): "cell_controller.calibrate:main",
    ("weld-plot",): "cell_controller.sim.physics.plot:main",
    ("train", "weld"): "cell_controller.policies.train:main",
    ("train", "feed"): "cell_controller.policies.feed_train:main",
    ("evaluate", "weld"): "cell_controller.policies.evaluate:main",
    ("evaluate", "feed"): "cell_controller.policies.feed_evaluate:main",
}


def _delegate(argv: list[str]) -> int | None:
    """Run a delegated subcommand and return its exit status; None when argv names none."""
    import importlib

    for words, target in DELEGATED.items():
        if tuple(argv[:len(words)]) == words:
            module, function = target.split(":")
            return getattr(importlib.import_module(module), function)(argv[len(words):]) or 0
    if argv[:1] in (["train"], ["evaluate"]):
        raise BadInput(f"{argv[0]}: say what to {argv[0]}: weld or feed (got {' '.join(argv[1:2]) or 'nothing'})")
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cellctl", description="Run and inspect the autonomous welding cell.")
    sub = parser.add_subparsers(dest="command", required=True)
    shift = sub.add_parser("shift", help="run an autonomous production shift")
    shift.add_argument("--parts", type=int, default=0, help="parts to produce (default: the cell description's)")
    shift.add_argument("--timeout", type=float, default=None,
                       help="stop the cell and fail after this many s (default: from the parts and the ideal cycle)")
    shift.add_argument("--log-dir", type=Path, default=None, help="where the processes' logs go (default: cell.logs)")
    shift.add_argument("--manual-start", action="store_true",
                       help="wait in Stopped for Reset and Start from an operator or the MES (no auto start)")
    shift.add_argument("--hmi", action="store_true", help="serve the operator page too (hmi.bind of the description)")
    hmi = sub.add_parser("hmi", help="serve the operator page for the running cell")
    hmi.add_argument("--bind", default="", help="ADDR:PORT to listen on (default: hmi.bind, 127.0.0.1:8080)")
    sub.add_parser("check", help="validate a cell description and its endpoints")
    summary = sub.add_parser("summary", help="a shift's figures from the production journal")
    summary.add_argument("--shift", type=int, default=0, help="shift id (default: the last)")
    inspect = sub.add_parser("inspect", help="an operator's verdict on a part routed to manual inspection")
    inspect.add_argument("part", help="the part id, e.g. P000042")
    inspect.add_argument("verdict", choices=("good", "defective"))
    inspect.add_argument("--user", default=getpass.getuser(), help="who judged it (default: the login name)")
    compare = sub.add_parser("compare", help="the baseline cell against the autonomous cell on the same seeds")
    compare.add_argument("--parts", type=int, default=200, help="parts per cell in process (default 200)")
    compare.add_argument("--full", type=int, default=0,
                         help="also run each cell across processes for this many parts and check they agree")
    compare.add_argument("--out", type=Path, default=None, help="write the tables (markdown) here too")
    compare.add_argument("--seed", type=int, default=None,
                         help="the cells' seed (default: one whose joints are held out from the welding policy's training)")
    report = sub.add_parser("report", help="a shift as an HTML page: KPIs, timeline, quality, energy and cost")
    report.add_argument("--shift", type=int, default=0, help="shift id (default: the last)")
    report.add_argument("--baseline", type=int, default=0, help="a shift of the same journal to compare against")
    report.add_argument("--out", type=Path, default=Path("report.html"), help="the page (default report.html)")
    export = sub.add_parser("export", help="the journal's parts, events and cost lines as CSV or Parquet files")
    export.add_argument("--format", choices=("csv", "parquet"), default="csv")
    export.add_argument("--shift", type=int, default=0, help="one shift's rows (default: every shift)")
    export.add_argument("-o", "--output", type=Path, required=True, help="the folder to write the files to")
    swap = sub.add_parser("swap", help="move a device of the running cell to another backend")
    swap.add_argument("device", help="a device name of the description, or its role")
    swap.add_argument("backend", choices=("twin", "real", "shadow"))
    swap.add_argument("--timeout", type=float, default=None, help="give up after this many s (default 20)")
    map_device = sub.add_parser("map-device", help="draft a mapping file by browsing a vendor's OPC UA server")
    map_device.add_argument("endpoint", help="opc.tcp://host:port of the device")
    map_device.add_argument("--kind", required=True, choices=("robot", "welder", "press", "cnc", "feeder"))
    map_device.add_argument("-o", "--output", type=Path, default=None, help="write the draft here (default: stdout)")
    for p in (shift, hmi, sub.choices["check"], summary, inspect, compare, report, export, swap):
        p.add_argument("--config", type=Path, default=default_config(), help="the cell description (YAML)")
    keys = sub.add_parser("keys", help="create the cell's OPC UA application key and certificate")
    keys.add_argument("-o", "--output", type=Path, default=None, help="folder (default: pki beside the journal)")
    keys.add_argument("--name", default="", help="the cell's name (default: cell.name of the description)")
    keys.add_argument("--host", action="append", help="a host name or address of the cell PC (default: this host)")
    keys.add_argument("--config", type=Path, default=default_config(), help="the cell description (YAML)")
    users = sub.add_parser("users", help="accounts of the northbound OPC UA server")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="add or replace an account (password from the terminal or stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=("operator", "viewer"), required=True)
    add.add_argument("--file", type=Path, required=True, help="the accounts file (created with mode 0600)")
    sub.add_parser("record", help="record topics of a running cell to a rosbag2 bag (MCAP)", add_help=False)
    sub.add_parser("calibrate", help="fit the twin's parameters to a recorded cell's welds", add_help=False)
    sub.add_parser("weld-plot", help="weld one seeded joint in the twin and write a PNG of it", add_help=False)
    sub.add_parser("train", help="train a policy in the twin: train weld|feed --help", add_help=False)
    sub.add_parser("evaluate", help="evaluate policies on held-out seeds: evaluate weld|feed --help", add_help=False)
    argv = sys.argv[1:] if argv is None else argv
    try:
        delegated = _delegate(argv)
        if delegated is not None:
            return delegated
        args = parser.parse_args(argv)
        commands = {"shift": cmd_shift, "check": cmd_check, "summary": cmd_summary, "users": cmd_users,
                    "keys": cmd_keys, "swap": cmd_swap, "map-device": cmd_map_device, "export": cmd_export,
                    "report": cmd_report, "compare": cmd_compare, "inspect": cmd_inspect, "hmi": cmd_hmi}
        return commands[args.command](args)
    except (ConfigError, BadInput, PreflightError) as error:
        print(f"cellctl: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (JournalError, sqlite3.Error, OSError) as error:  # a full disk, an unreadable journal: one line
        print(f"cellctl: {error}", file=sys.stderr)
        return EXIT_FAILED

if __name__ == "__main__":
    sys.exit(main())
