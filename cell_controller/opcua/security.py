"""OPC UA security from the cell description: the cell's keys, the policies it speaks, trust lists.

The cell has one application instance certificate and key (`make_keys`, `cellctl keys`), used by
its bridges to log in to secured devices and by its northbound server. Every secured endpoint is
SignAndEncrypt with one of `core.config.SECURITY_POLICIES`; the deprecated policies (Basic128Rsa15,
Basic256: SHA-1) and None are never offered or accepted off loopback. A trust list is a folder of
trusted certificates (PEM or DER) with the CRLs in its `crl` subfolder; a peer whose certificate is
not in it (or is revoked, expired, not yet valid) is refused, on both sides.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from pathlib import Path

from asyncua import ua
from asyncua.crypto import cert_gen, security_policies
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from cell_controller.core.config import SecurityConfig

#: policy name -> (the client's policy class, the server's SignAndEncrypt policy type)
POLICIES: dict[str, tuple[type[security_policies.SecurityPolicy], ua.SecurityPolicyType]] = {
    "Basic256Sha256": (security_policies.SecurityPolicyBasic256Sha256,
                       ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt),
    "Aes128_Sha256_RsaOaep": (security_policies.SecurityPolicyAes128Sha256RsaOaep,
                              ua.SecurityPolicyType.Aes128Sha256RsaOaep_SignAndEncrypt),
    "Aes256_Sha256_RsaPss": (security_policies.SecurityPolicyAes256Sha256RsaPss,
                             ua.SecurityPolicyType.Aes256Sha256RsaPss_SignAndEncrypt),
}
KEY_FILE, CERTIFICATE_FILE = "cell_key.pem", "cell_cert.der"
CERTIFICATE_DAYS = 365


class SecurityFileError(ValueError):
    """A certificate, key or trust list that cannot be used; the message names the file and why."""


def application_uri(cell_name: str) -> str:
    """The cell's OPC UA application URI (in its certificate, its clients and its server)."""
    return f"urn:cell-controller:{cell_name}"


def make_keys(folder: Path, cell_name: str, hostnames: list[str] | None = None,
              days: int = CERTIFICATE_DAYS) -> tuple[Path, Path]:
    """Create the cell's RSA key (PEM, mode 0600) and self-signed application certificate (DER) in
    `folder`, with the cell's application URI and the host's names and addresses; (key, certificate)."""
    hostnames = hostnames or sorted({socket.gethostname(), "localhost"})
    folder.mkdir(parents=True, exist_ok=True)
    key = cert_gen.generate_private_key()
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(application_uri(cell_name))]
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    certificate = cert_gen.generate_self_signed_app_certificate(
        key, f"cell_controller {cell_name}", {}, names,
        [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH], days=days)
    key_path, cert_path = folder / KEY_FILE, folder / CERTIFICATE_FILE
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(cert_gen.dump_private_key_as_pem(key))
    os.chmod(key_path, 0o600)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    return key_path, cert_path


def load_certificate(path: Path) -> x509.Certificate:
    """A PEM or DER certificate; SecurityFileError naming the file when it is neither."""
    data = path.read_bytes()
    for loader in (x509.load_der_x509_certificate, x509.load_pem_x509_certificate):
        try:
            return loader(data)
        except ValueError:
            continue
    raise SecurityFileError(f"{path}: not a certificate (PEM or DER)")


def certificate_uri(path: Path) -> str | None:
    """The application URI a certificate names (its subjectAltName URI), which a peer checks against
    the application's description; None when it names none."""
    try:
        names = load_certificate(path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def check_files(security: SecurityConfig) -> None:
    """Parse the certificate, the key and the trust list now; SecurityFileError naming the bad file."""
    certificate = load_certificate(security.certificate)
    now = datetime.datetime.now(datetime.timezone.utc)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SecurityFileError(f"{security.certificate}: not valid now (valid {certificate.not_valid_before_utc:%Y-%m-%d}"
                                f" to {certificate.not_valid_after_utc:%Y-%m-%d})")
    try:
        serialization.load_pem_private_key(security.private_key.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise SecurityFileError(f"{security.private_key}: not an unencrypted PEM private key") from None
    if security.trust is not None and not _trusted_files(security.trust):
        raise SecurityFileError(f"{security.trust}: the trust list holds no certificate (*.der, *.pem)")
    for path in _trusted_files(security.trust):
        load_certificate(path)
    if security.user is not None and security.user.certificate is not None:
        load_certificate(security.user.certificate)


def _trusted_files(trust: Path | None) -> list[Path]:
    """The certificates of a trust list (what asyncua's TrustStore loads: *.der and *.pem)."""
    if trust is None:
        return []
    return sorted(p for p in trust.iterdir() if p.is_file() and p.suffix.lower() in (".der", ".pem"))


async def validator(trust: Path, peer_is_server: bool) -> CertificateValidator:
    """A certificate validator accepting only peers in the trust list (not revoked, valid now)."""
    if not _trusted_files(trust):
        raise SecurityFileError(f"{trust}: the trust list holds no certificate (*.der, *.pem)")
    crl = trust / "crl"
    store = TrustStore([trust], [crl] if crl.is_dir() else [])
    await store.load()
    options = CertificateValidatorOptions.BASIC_VALIDATION | CertificateValidatorOptions.TRUSTED | \
        (CertificateValidatorOptions.PEER_SERVER if peer_is_server else CertificateValidatorOptions.PEER_CLIENT)
    return CertificateValidator(options, store)
