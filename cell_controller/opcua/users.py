"""Who may do what on the project's OPC UA servers: accounts with roles and hashed passwords.

Two roles: an `operator` reads, subscribes and calls methods; a `viewer` reads and subscribes,
and any method call or write it tries is answered BadUserAccessDenied. Passwords are stored as
Argon2id hashes (argon2-cffi), never in clear; the accounts file lives outside the repository:

    # accounts.yaml (mode 0600)
    alice: {role: operator, password_hash: "$argon2id$v=19$m=65536,t=3,p=4$..."}
    mes:   {role: viewer,   password_hash: "$argon2id$..."}

`cellctl users add NAME --role operator|viewer [--file FILE]` writes such a line (the password is
read from the terminal or stdin). The caller of a method is available to it as `current_user()`.
"""
from __future__ import annotations

import contextvars
import enum
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from asyncua import ua
from asyncua.crypto.permission_rules import PermissionRuleset, User, UserRole

_hasher = PasswordHasher()
_caller: contextvars.ContextVar[str] = contextvars.ContextVar("opcua_caller", default="")
#: requests a viewer may not make
_OPERATOR_ONLY = {ua.NodeId(ua.ObjectIds.CallRequest_Encoding_DefaultBinary),
                  ua.NodeId(ua.ObjectIds.WriteRequest_Encoding_DefaultBinary)}
#: requests nobody makes on our servers (the address space is the spec's)
_NOBODY = {ua.NodeId(i) for i in (ua.ObjectIds.AddNodesRequest_Encoding_DefaultBinary,
                                  ua.ObjectIds.DeleteNodesRequest_Encoding_DefaultBinary,
                                  ua.ObjectIds.AddReferencesRequest_Encoding_DefaultBinary,
                                  ua.ObjectIds.DeleteReferencesRequest_Encoding_DefaultBinary,
                                  ua.ObjectIds.RegisterServerRequest_Encoding_DefaultBinary,
                                  ua.ObjectIds.RegisterServer2Request_Encoding_DefaultBinary)}


class Role(str, enum.Enum):
    OPERATOR = "operator"
    VIEWER = "viewer"


class AccountsError(ValueError):
    """An accounts file that cannot be used; the message names the file, the account and why."""


@dataclass(frozen=True)
class Account:
    role: Role
    password_hash: str


def hash_password(password: str) -> str:
    """An Argon2id hash of `password` for an accounts file."""
    return _hasher.hash(password)


def verify_password(account: Account, password: str) -> bool:
    """`password` is the account's (checked against its Argon2 hash)."""
    try:
        return _hasher.verify(account.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


#: an account name: what the supervisor's commands carry as `user=` and the journal records
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def account_name_problem(name: str) -> str | None:
    """Why `name` cannot be an account's (None: it can)."""
    if ACCOUNT_NAME.fullmatch(name):
        return None
    return f"account name {name[:70]!r}: expected 1..64 ASCII letters, digits, '_', '.' or '-'"


def load_accounts(path: str | Path) -> dict[str, Account]:
    """The accounts in a YAML file (see the module docstring); AccountsError naming file and account."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text())
    except OSError as error:
        raise AccountsError(f"{file}: cannot read: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise AccountsError(f"{file}: not valid YAML: {error}") from None
    if not isinstance(data, dict) or not data:
        raise AccountsError(f"{file}: expected a mapping of account name -> {{role, password_hash}}")
    accounts = {}
    for name, entry in data.items():
        if account_name_problem(str(name)):
            raise AccountsError(f"{file}: {account_name_problem(str(name))}")
        if not isinstance(entry, dict) or set(entry) != {"role", "password_hash"}:
            raise AccountsError(f"{file}: {name}: expected {{role: operator|viewer, password_hash: ...}}")
        try:
            role = Role(entry["role"])
        except ValueError:
            raise AccountsError(f"{file}: {name}: role {entry['role']!r} is not operator or viewer") from None
        if not str(entry["password_hash"]).startswith("$argon2"):
            raise AccountsError(f"{file}: {name}: password_hash is not an Argon2 hash (never store a password)")
        accounts[str(name)] = Account(role, str(entry["password_hash"]))
    return accounts


def add_account(path: str | Path, name: str, role: Role, password: str) -> None:
    """Add or replace `name` in the accounts file (created with mode 0600); AccountsError for a bad name."""
    if account_name_problem(name):
        raise AccountsError(account_name_problem(name))
    file = Path(path)
    data = yaml.safe_load(file.read_text()) if file.exists() else {}
    data = data if isinstance(data, dict) else {}
    data[name] = {"role": role.value, "password_hash": hash_password(password)}
    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(data, out, sort_keys=True)
    os.chmod(file, 0o600)


class AccountUsers:
    """asyncua user manager over `accounts`: Argon2 verification, anonymous refused."""

    def __init__(self, accounts: Mapping[str, Account]):
        self.accounts = dict(accounts)

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        account = self.accounts.get(username or "")
        if account is None or password is None or not verify_password(account, password):
            return None
        return User(role=UserRole.User, name=username)


class RolePermissions(PermissionRuleset):
    """Operators call methods and write; viewers only read, browse and subscribe; no one edits the space.

    It also remembers, for the request being processed, who makes it (`current_user`)."""

    def __init__(self, accounts: Mapping[str, Account]):
        self.roles = {name: account.role for name, account in accounts.items()}

    def check_validity(self, user: User | None, action_type: ua.NodeId, body: Any) -> bool:
        name = getattr(user, "name", None) or ""
        _caller.set(name)
        if action_type in _NOBODY:
            return False
        if action_type in _OPERATOR_ONLY:
            return self.roles.get(name) is Role.OPERATOR
        return name in self.roles


def current_user() -> str:
    """The account name of the client whose request is being processed ('' when unknown)."""
    return _caller.get()
