"""Accounts of the project's OPC UA servers: Argon2 hashes in a 0600 file, refused when malformed,
and roles a real server enforces (tested end to end in tests/nodes/test_mes_node.py)."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole

from cell_controller.opcua.users import (
    AccountsError, AccountUsers, Role, RolePermissions, add_account, current_user, load_accounts,
)


def test_an_account_file_holds_hashes_only_and_is_readable_by_its_owner_alone(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "accounts.yaml"
    add_account(path, "alice", Role.OPERATOR, "correct horse")
    add_account(path, "victor", Role.VIEWER, "battery staple")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "correct horse" not in text and "battery staple" not in text and "$argon2id$" in text
    accounts = load_accounts(path)
    assert {n: a.role for n, a in accounts.items()} == {"alice": Role.OPERATOR, "victor": Role.VIEWER}
    users = AccountUsers(accounts)
    assert users.get_user(None, "alice", "correct horse").name == "alice"
    for name, password in (("alice", "wrong"), ("alice", None), ("mallory", "correct horse"), (None, None)):
        assert users.get_user(None, name, password) is None


@pytest.mark.parametrize("text, problem", [
    ("- alice\n", "expected a mapping"),
    ("alice: {role: admin, password_hash: '$argon2id$x'}\n", "role 'admin' is not operator or viewer"),
    ("alice: {role: operator, password_hash: hunter2}\n", "not an Argon2 hash (never store a password)"),
    ("alice: {role: operator}\n", "expected {role: operator|viewer, password_hash: ...}"),
    ("alice: [unclosed\n", "not valid YAML"),
    ("'olga user=mallory': {role: operator, password_hash: '$argon2id$x'}\n", "account name 'olga user=mallory'"),
])
def test_a_malformed_accounts_file_is_refused_naming_file_and_account(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(text)
    with pytest.raises(AccountsError) as error:
        load_accounts(path)
    assert str(path) in str(error.value) and problem in str(error.value)
    with pytest.raises(AccountsError, match="cannot read"):
        load_accounts(tmp_path / "missing.yaml")


def test_viewers_read_operators_call_and_nobody_edits_the_address_space(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    add_account(path, "alice", Role.OPERATOR, "correct horse")
    add_account(path, "victor", Role.VIEWER, "battery staple")
    rules = RolePermissions(load_accounts(path))
    call, write, read = (ua.NodeId(i) for i in (ua.ObjectIds.CallRequest_Encoding_DefaultBinary,
                                                ua.ObjectIds.WriteRequest_Encoding_DefaultBinary,
                                                ua.ObjectIds.ReadRequest_Encoding_DefaultBinary))
    add_nodes = ua.NodeId(ua.ObjectIds.AddNodesRequest_Encoding_DefaultBinary)
    alice, victor = User(UserRole.User, "alice"), User(UserRole.User, "victor")
    assert rules.check_validity(alice, call, None) and rules.check_validity(alice, write, None)
    assert current_user() == "alice"
    assert rules.check_validity(victor, read, None)
    assert not rules.check_validity(victor, call, None) and not rules.check_validity(victor, write, None)
    assert not rules.check_validity(alice, add_nodes, None)
    assert not rules.check_validity(User(UserRole.Anonymous, None), read, None)


@pytest.mark.parametrize("name", ["olga user=mallory", "Jürgen", "x" * 65, ""])
def test_an_account_name_the_journal_cannot_carry_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(AccountsError, match="expected 1..64 ASCII letters"):
        add_account(tmp_path / "accounts.yaml", name, Role.OPERATOR, "correct horse")
    assert not (tmp_path / "accounts.yaml").exists()
