"""OPC UA security against real servers on loopback: what a secured endpoint refuses, every time.

Each refusal the reliability targets name has its test: an anonymous login, a wrong password, an
untrusted client certificate, an expired one, a server certificate the client does not trust, a
read on a session never activated (CVE-2023-26150), a viewer writing a setpoint, an endpoint that
offers only a deprecated policy; and the way that works: trusted certificates and a known account.
"""
from __future__ import annotations

import asyncio
import datetime
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, Server, ua
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cell_controller.opcua.address_space import robot_spec
from cell_controller.opcua.client import ClientSecurity, DeviceClient, DeviceUnreachableError
from cell_controller.opcua.security import application_uri, make_keys
from cell_controller.opcua.server import DeviceServer, ServerSecurity
from cell_controller.opcua.users import Role, add_account, load_accounts
from cell_controller.testing import REPO, free_ports

TRAVEL = "MotionDeviceSystem/WeldProcess/TravelSpeedSetpoint"


class Pki:
    """A cell's and a device's keys, each trusting the other, and accounts on the device."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.cell_key, self.cell_cert = make_keys(folder / "cell", "cell")
        self.device_key, self.device_cert = make_keys(folder / "device", "device")
        self.device_trust, self.cell_trust = folder / "device-trusts", folder / "cell-trusts"
        for trust, cert in ((self.device_trust, self.cell_cert), (self.cell_trust, self.device_cert)):
            trust.mkdir()
            shutil.copy(cert, trust / cert.name)
        add_account(folder / "accounts.yaml", "alice", Role.OPERATOR, "correct horse")
        add_account(folder / "accounts.yaml", "victor", Role.VIEWER, "battery staple")
        self.accounts = load_accounts(folder / "accounts.yaml")

    def client(self, **changes: Any) -> ClientSecurity:
        values = dict(policy="Basic256Sha256", certificate=self.cell_cert, private_key=self.cell_key,
                      trust=self.cell_trust, username="alice", password="correct horse")
        values.update(changes)
        return ClientSecurity(**values)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def expired_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A key and a certificate for `name` whose validity ended yesterday."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now - datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(application_uri(name))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (folder / "cert.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return folder / "key.pem", folder / "cert.der"


def run(pki: Pki, body, policies: tuple[str, ...] = ("Basic256Sha256",)) -> Any:
    endpoint = f"opc.tcp://127.0.0.1:{free_ports(1)[0]}"

    async def main() -> Any:
        server = await DeviceServer.start(robot_spec(), endpoint, "secured",
                                          security=ServerSecurity(pki.device_cert, pki.device_key, policies,
                                                                  pki.device_trust),
                                          accounts=pki.accounts)
        try:
            return await body(endpoint, server)
        finally:
            await server.stop()
    return asyncio.run(main())


async def refused(endpoint: str, security: ClientSecurity | None = None, **login: Any) -> str:
    with pytest.raises(DeviceUnreachableError) as error:
        client = await DeviceClient.connect(endpoint, robot_spec(), 5.0, security=security, **login)
        await client.disconnect()
    return str(error.value)


def test_the_cell_with_trusted_certificates_and_an_operator_account_connects_and_writes(pki: Pki) -> None:
    async def body(endpoint: str, server: DeviceServer) -> None:
        client = await DeviceClient.connect(endpoint, robot_spec(), 5.0, security=pki.client())
        try:
            await client.write(TRAVEL, 9.5)
            assert server.get_value(TRAVEL) == 9.5
        finally:
            await client.disconnect()
        plain = Client(endpoint)
        endpoints = await plain.connect_and_get_server_endpoints()
        offered = {(e.SecurityPolicyUri.rsplit("#", 1)[-1], e.SecurityMode) for e in endpoints}
        assert offered == {("Basic256Sha256", ua.MessageSecurityMode.SignAndEncrypt)}, "no None, no Sign only"
    run(pki, body)


@pytest.mark.parametrize("policy", ["Aes128_Sha256_RsaOaep", "Aes256_Sha256_RsaPss"])
def test_the_aes_policies_work_too(pki: Pki, policy: str) -> None:
    async def body(endpoint: str, server: DeviceServer) -> None:
        client = await DeviceClient.connect(endpoint, robot_spec(), 5.0, security=pki.client(policy=policy))
        await client.disconnect()
    run(pki, body, policies=(policy,))


def test_anonymous_and_plain_sessions_are_refused(pki: Pki) -> None:
    async def body(endpoint: str, server: DeviceServer) -> None:
        await refused(endpoint)  # None policy: not offered
        await refused(endpoint, pki.client(username=None, password=None))  # secured, but anonymous
    run(pki, body)


def test_a_wrong_password_and_an_unknown_user_are_refused(pki: Pki) -> None:
    async def body(endpoint: str, server: DeviceServer) -> None:
        await refused(endpoint, pki.client(password="wrong"))
        await refused(endpoint, pki.client(username="mallory"))
    run(pki, body)


def test_an_untrusted_and_an_expired_client_certificate_are_refused(pki: Pki, tmp_path: Path) -> None:
    stranger_key, stranger_cert = make_keys(tmp_path / "stranger", "cell")  # valid, same URI, not trusted
    old_key, old_cert = expired_certificate(tmp_path / "old", "cell")
    shutil.copy(old_cert, pki.device_trust / "old.der")  # trusted once, expired now

    async def body(endpoint: str, server: DeviceServer) -> None:
        await refused(endpoint, pki.client(certificate=stranger_cert, private_key=stranger_key))
        await refused(endpoint, pki.client(certificate=old_cert, private_key=old_key))
    run(pki, body)


def test_a_server_certificate_the_client_does_not_trust_is_refused(pki: Pki, tmp_path: Path) -> None:
    _, other = make_keys(tmp_path / "other-device", "other-device")
    trusts_another = tmp_path / "trusts-another-device"
    trusts_another.mkdir()
    shutil.copy(other, trusts_another / "other.der")

    async def body(endpoint: str, server: DeviceServer) -> None:
        await refused(endpoint, pki.client(trust=trusts_another))
    run(pki, body)


def test_a_read_on_a_session_never_activated_is_refused(pki: Pki) -> None:
    """CVE-2023-26150: a session created and never activated must not read."""
    async def body(endpoint: str, server: DeviceServer) -> None:
        client = Client(endpoint)
        await client.set_security_string(f"Basic256Sha256,SignAndEncrypt,{pki.cell_cert},{pki.cell_key}")
        client.application_uri = application_uri("cell")
        await client.connect_socket()
        try:
            await client.open_secure_channel()
            await client.create_session()  # no ActivateSession
            with pytest.raises(ua.UaStatusCodeError) as error:
                await client.get_node(ua.NodeId(ua.ObjectIds.Server_ServerStatus_State)).read_value()
            assert error.value.code in (ua.StatusCodes.BadSessionNotActivated, ua.StatusCodes.BadUserAccessDenied)
        finally:
            client.disconnect_socket()
    run(pki, body)


def test_a_viewer_writing_a_setpoint_is_denied(pki: Pki) -> None:
    async def body(endpoint: str, server: DeviceServer) -> None:
        before = server.get_value(TRAVEL)
        client = await DeviceClient.connect(endpoint, robot_spec(), 5.0,
                                            security=pki.client(username="victor", password="battery staple"))
        try:
            assert await client.read([TRAVEL])  # a viewer reads
            with pytest.raises(ua.UaStatusCodeError) as error:
                await client.write(TRAVEL, 11.0)
            assert error.value.code == ua.StatusCodes.BadUserAccessDenied
        finally:
            await client.disconnect()
        assert server.get_value(TRAVEL) == before
    run(pki, body)


def test_an_endpoint_offering_only_a_deprecated_policy_is_refused(pki: Pki) -> None:
    endpoint = f"opc.tcp://127.0.0.1:{free_ports(1)[0]}"

    async def main() -> str:
        server = Server()
        await server.init()
        server.set_endpoint(endpoint)
        await server.load_certificate(str(pki.device_cert))
        await server.load_private_key(str(pki.device_key))
        server.set_security_policy([ua.SecurityPolicyType.Basic256_SignAndEncrypt])  # SHA-1: deprecated
        await server.start()
        try:
            return await refused(endpoint, pki.client())
        finally:
            await server.stop()
    assert "unreachable" in asyncio.run(main())


def test_cellctl_keys_writes_a_key_only_its_owner_reads_outside_what_git_tracks(tmp_path: Path) -> None:
    import sys
    cellctl = str(Path(sys.executable).with_name("cellctl"))
    done = subprocess.run([cellctl, "keys", "-o", str(tmp_path / "pki"), "--name", "weld_cell_1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    key, cert = tmp_path / "pki" / "cell_key.pem", tmp_path / "pki" / "cell_cert.der"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    certificate = x509.load_der_x509_certificate(cert.read_bytes())
    uris = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert application_uri("weld_cell_1") in uris.get_values_for_type(x509.UniformResourceIdentifier)
    # the default place, and any key file, is one git never tracks
    for path in ("runs/pki/cell_key.pem", "config/cell_key.pem", "some/where/device.pem"):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO)
        assert ignored.returncode == 0, f"{path} is not ignored by .gitignore"
