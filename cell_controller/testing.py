"""A cell on private resources, for tests and benchmarks that must never meet another cell:
free loopback ports, a namespace of its own and a journal in a given folder."""
from __future__ import annotations

import asyncio
import os
import random
import socket
import threading
from pathlib import Path
from typing import Any, Callable

import yaml

from cell_controller.core.policy import AUTONOMOUS_POLICIES, BASELINE_POLICIES

REPO = Path(__file__).resolve().parents[1]


def free_ports(n: int) -> list[int]:
    """`n` loopback TCP ports free right now."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def private_cell_file(folder: Path, prefix: str, edit: Callable[[dict[str, Any]], None] | None = None,
                      name: str = "cell.yaml") -> Path:
    """config/cell.yaml rewritten into `folder` with free ports (devices and the northbound server),
    namespace /<prefix>_<pid>_<n> and its journal and logs in `folder`, on the baseline cell
    (`baseline_cell`); `edit(data)` may change the parsed YAML before it is written (`learned_policies`
    brings back the shipped autonomous cell)."""
    data = yaml.safe_load((REPO / "config/cell.yaml").read_text())
    baseline_cell(data)
    ports = free_ports(len(data["devices"]) + 1)
    for device, port in zip(data["devices"].values(), ports):
        device["endpoint"] = f"opc.tcp://127.0.0.1:{port}"
    data["mes"]["endpoint"] = f"opc.tcp://127.0.0.1:{ports[-1]}"
    data["cell"]["namespace"] = f"/{prefix}_{os.getpid()}_{random.randrange(10**6)}"
    data["cell"]["journal"] = str(folder / "journal.sqlite")
    data["cell"]["logs"] = str(folder / "logs")
    if edit is not None:
        edit(data)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def baseline_cell(data: dict[str, Any]) -> None:
    """Edit: the baseline cell (fixed recipe, fixed-rate feeding) at twin time scale 20, which the tests of
    the supervisor, the bridges and the links run: four times faster than the shipped autonomous cell,
    whose welding policy needs time scale 5, and with no policy model to load in every node."""
    data["policies"]["weld"], data["policies"]["feed"] = BASELINE_POLICIES
    data["twin"]["time_scale"] = 20


def learned_policies(data: dict[str, Any]) -> None:
    """Edit for `private_cell_file`: the shipped learned policies, at the twin time scale that gives the
    welding policy the control step it was trained at (the in-process evaluation's)."""
    from cell_controller.core.units import to_canonical
    from cell_controller.sim.envs.weld_env import loop_time_scale

    data["policies"]["weld"], data["policies"]["feed"] = AUTONOMOUS_POLICIES
    rate = data["devices"]["welder"]["publishing_rate"]
    data["twin"]["time_scale"] = loop_time_scale(to_canonical(rate["value"], rate["unit"], "frequency"))


def real_device_security(folder: Path) -> dict[str, Any]:
    """A `security` section for a real device in a description: the cell's keys made in `folder/pki`,
    a trust list holding the device's certificate (made there too) and a password file (mode 0600)."""
    from cell_controller.opcua.security import make_keys

    pki = folder / "pki"
    if not (pki / "cell").is_dir():
        make_keys(pki / "cell", "cell")
        _, device_certificate = make_keys(pki / "device", "device")
        (pki / "trusted").mkdir()
        (pki / "trusted" / device_certificate.name).write_bytes(device_certificate.read_bytes())
        fd = os.open(pki / "password", os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("correct horse\n")
    return {"policy": "Basic256Sha256", "certificate": str(pki / "cell" / "cell_cert.der"),
            "private_key": str(pki / "cell" / "cell_key.pem"), "trust": str(pki / "trusted"),
            "user": {"username": "cell", "password_file": str(pki / "password")}}


def tls_files(folder: Path) -> tuple[Path, Path]:
    """A self-signed TLS certificate for localhost and its key (mode 0600), PEM files in `folder`: for the
    operator page's `hmi.tls` in tests."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
                   .sign(key, hashes.SHA256()))
    certificate_path, key_path = folder / "hmi_cert.pem", folder / "hmi_key.pem"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return certificate_path, key_path


def plant_section(folder: Path, parameter_set: str = "far", arc_from: str = "twin") -> dict[str, Any]:
    """A `plant` section for a description whose real devices the cell reaches with `real_device_security(folder)`:
    the plant's keys made in `folder/pki/plant` (its certificate, ApplicationUri urn:cell-controller:plant, added
    to the cell's trust list), a trust list holding the cell's certificate and an accounts file with the cell's
    user (operator, its password)."""
    from cell_controller.opcua.security import make_keys
    from cell_controller.opcua.users import Role, add_account

    user = real_device_security(folder)["user"]
    pki = folder / "pki"
    if not (pki / "plant").is_dir():
        _, plant_certificate = make_keys(pki / "plant", "plant")
        (pki / "trusted" / "plant_cert.der").write_bytes(plant_certificate.read_bytes())
        (pki / "plant-trusts").mkdir()
        (pki / "plant-trusts" / "cell_cert.der").write_bytes((pki / "cell" / "cell_cert.der").read_bytes())
        add_account(pki / "plant-accounts.yaml", user["username"], Role.OPERATOR,
                    Path(user["password_file"]).read_text().strip())
    return {"parameter_set": parameter_set, "arc_from": arc_from, "accounts": str(pki / "plant-accounts.yaml"),
            "security": {"policy": "Basic256Sha256", "certificate": str(pki / "plant" / "cell_cert.der"),
                         "private_key": str(pki / "plant" / "cell_key.pem"), "trust": str(pki / "plant-trusts")}}


class LinkProxy:
    """A TCP proxy from a loopback port to `target_port`, for link-fault tests: it passes traffic,
    cuts the link (every connection reset, new ones refused), black-holes it (connections stay open and
    nothing arrives either way: a cable pulled behind a switch; on `heal` what TCP held is delivered late,
    as retransmission would) or delays every chunk by `delay_s`. Runs its own asyncio loop in a thread.
    """

    def __init__(self, target_port: int, delay_s: float = 0.0):
        self.target_port, self.delay_s = target_port, delay_s
        self.port = free_ports(1)[0]
        self.refusing = False
        self._loop = asyncio.new_event_loop()
        self._passing = asyncio.Event()
        self._passing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="link-proxy", daemon=True)
        self._thread.start()
        self._server = self._run(asyncio.start_server(self._accept, "127.0.0.1", self.port))

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(5.0)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.refusing:
                raise ConnectionRefusedError
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True)
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            await self._passing.wait()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            writer.write(data)
            await writer.drain()
        writer.transport.abort()

    def cut(self) -> None:
        """Reset every connection and refuse new ones, until `heal`."""
        def cut_now() -> None:
            self.refusing = True
            for writer in list(self._writers):
                writer.transport.abort()
        self._loop.call_soon_threadsafe(cut_now)

    def black_hole(self) -> None:
        """Hold every byte either way from now on (new connections too), until `heal`."""
        self._loop.call_soon_threadsafe(self._passing.clear)

    def heal(self) -> None:
        """Pass traffic again (held bytes first) and accept new connections."""
        def heal_now() -> None:
            self.refusing = False
            self._passing.set()
        self._loop.call_soon_threadsafe(heal_now)

    def close(self) -> None:
        async def close_all() -> None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
        self._run(close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(2.0)


def twin_as_plant(folder: Path, parameter_set: str) -> Callable[[dict[str, Any]], None]:
    """Edit for `private_cell_file`: the shipped learned policies, and a twin that welds as the plant of the
    reality-gap set `parameter_set` (a parameter file of it written into `folder`, named by `twin.parameters`)."""
    from cell_controller.sim.reality_gap import gap, write_parameters

    parameters = folder / f"{parameter_set}.yaml"
    write_parameters(parameters, gap(parameter_set), {"source": f"the reality-gap set {parameter_set!r}"})

    def edit(data: dict[str, Any]) -> None:
        learned_policies(data)
        data["twin"]["parameters"] = str(parameters)
    return edit


#: the topics `cellctl calibrate` reads (cell_controller/calibrate.py TOPICS)
CALIBRATION_TOPICS = ("welder/process", "weld/setpoints", "robot/seam_tracker")


def recorded_shift(config_path: Path, parts: int, bag_dir: Path, env: dict[str, str], timeout_s: float = 900.0) -> str:
    """Run `cellctl shift --parts N` of the description while `cellctl record` records the calibration's topics
    into `bag_dir`; the shift's stdout. RuntimeError (with both outputs) when either fails."""
    import subprocess
    import sys
    import time

    from cell_controller.core.config import load_cell

    namespace = load_cell(config_path).namespace
    cellctl = [sys.executable, "-m", "cell_controller.cli"]
    recorder = subprocess.Popen([*cellctl, "record", "-o", str(bag_dir), "--namespace", namespace,
                                 *CALIBRATION_TOPICS], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    try:
        time.sleep(2.0)  # the recorder's participant up before the cell's first weld
        shift = subprocess.run([*cellctl, "shift", "--parts", str(parts), "--config", str(config_path)], env=env,
                               capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    finally:
        recorder.send_signal(2)  # SIGINT: the recorder closes the bag
        recorded = recorder.communicate(timeout=60)[0]
    if shift.returncode != 0 or recorder.returncode != 0:
        raise RuntimeError(f"shift exit {shift.returncode}, recorder exit {recorder.returncode}:\n"
                           f"{shift.stdout}{shift.stderr}\n{recorded}")
    return shift.stdout
