"""Who is logged in to the operator page: logins checked against the accounts file, sessions that expire.

A login is checked against the accounts file's Argon2id hash (`opcua/users.py`, the same file format as the
northbound server's) and gives a session: a random token (the page's cookie) for the account's name and
role. A session ends `timeout_s` after its last use (a command or an acknowledgement) or on logout.
Logins failing `MAX_FAILURES` times for one name from one address within `FAILURE_WINDOW_S` are refused for
that long, so a password cannot be guessed at the page's speed (and a stranger elsewhere cannot lock the
operator at the panel out). An unknown name costs the same Argon2 check as a known one, so the answer's
time does not tell which names exist. `login` may run on a worker thread (Argon2 takes ~0.1 s). Times are
monotonic seconds (`clock`).
"""
from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cell_controller.opcua.users import Account, Role, hash_password, verify_password

MAX_FAILURES = 5
FAILURE_WINDOW_S = 60.0
#: the (address, name) pairs whose failed logins are remembered (the oldest forgotten first)
MAX_REMEMBERED_FAILURES = 1000
#: the longest account name or password the page takes, characters
MAX_CREDENTIAL_CHARS = 128


class LoginRefused(ValueError):
    """A login that is not taken; the message says why (never which of name or password was wrong)."""


@dataclass
class Session:
    user: str
    role: Role
    last_used_s: float

    @property
    def operator(self) -> bool:
        return self.role is Role.OPERATOR


class Sessions:
    def __init__(self, accounts: Mapping[str, Account], timeout_s: float, clock: Callable[[], float] = time.monotonic):
        self.accounts, self.timeout_s, self.clock = dict(accounts), timeout_s, clock
        self._sessions: dict[str, Session] = {}
        self._expired: deque[str] = deque(maxlen=1000)
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._nobody = Account(Role.VIEWER, hash_password(secrets.token_hex(16)))  # checked for unknown names
        self._lock = threading.Lock()

    def login(self, user: str, password: str, client: str = "") -> tuple[str, Session]:
        """A new session's token for `user` logging in from address `client`; LoginRefused when the name,
        password or rate is wrong."""
        if not (0 < len(user) <= MAX_CREDENTIAL_CHARS and 0 < len(password) <= MAX_CREDENTIAL_CHARS):
            raise LoginRefused(f"name and password of 1..{MAX_CREDENTIAL_CHARS} characters")
        key, now = (client, user), self.clock()
        with self._lock:
            failures = self._failures.get(key, deque())
            while failures and failures[0] < now - FAILURE_WINDOW_S:
                failures.popleft()
            if len(failures) >= MAX_FAILURES:
                raise LoginRefused(f"{MAX_FAILURES} failed logins for this name: wait {FAILURE_WINDOW_S:.0f} s")
        account = self.accounts.get(user)
        if not verify_password(account or self._nobody, password) or account is None:
            with self._lock:
                self._failures.setdefault(key, failures).append(now)
                self._failures.move_to_end(key)
                while len(self._failures) > MAX_REMEMBERED_FAILURES:
                    self._failures.popitem(last=False)
            raise LoginRefused("unknown name or wrong password")
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._failures.pop(key, None)
            self._sessions[token] = Session(user, account.role, now)
        return token, self._sessions[token]

    def logout(self, token: str) -> None:
        self._sessions.pop(token, None)

    def get(self, token: str | None) -> Session | None:
        """The live session of `token` (None: no token, an unknown one, or one that expired)."""
        session = self._sessions.get(token or "")
        if session is not None and self.clock() - session.last_used_s > self.timeout_s:
            del self._sessions[token]
            self._expired.append(token)
            return None
        return session

    def expired(self, token: str | None) -> bool:
        """`token` was a session that expired (not one that logged out or never was)."""
        self.get(token)
        return bool(token) and token in self._expired

    def use(self, token: str | None) -> Session | None:
        """`get`, and the session's timeout starts again."""
        session = self.get(token)
        if session is not None:
            session.last_used_s = self.clock()
        return session

    @property
    def has_operators(self) -> bool:
        return any(a.role is Role.OPERATOR for a in self.accounts.values())
