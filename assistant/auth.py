"""API keys: reader and admin keys from settings, constant-time comparison, named keys for the audit log.

`MARKTWIJZER_READER_KEYS` / `MARKTWIJZER_ADMIN_KEYS` are comma-separated. An entry `name:key` gives
the key a name (recorded in the audit log instead of the key); a bare key is named after its role
and position (`reader-1`, `admin-2`). Keys are never logged or stored.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from dataclasses import dataclass
from enum import Enum

from ingest.settings import Settings

log = logging.getLogger(__name__)

MIN_KEY_CHARS = 16


class Role(str, Enum):
    reader = "reader"
    admin = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's name (for audit and rate limits) and its role."""

    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin


ANONYMOUS_ADMIN = Principal("auth-off", Role.admin)


@dataclass(frozen=True)
class _Key:
    name: str
    secret: bytes
    role: Role


class KeyRing:
    """All configured keys; `lookup` compares against every key in constant time per key."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.auth != "off"
        self._keys: list[_Key] = [
            *self._parse(settings.reader_keys, Role.reader),
            *self._parse(settings.admin_keys, Role.admin),
        ]
        names = [k.name for k in self._keys]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"API key names must be unique; repeated: {', '.join(sorted(duplicates))}")

    @staticmethod
    def _parse(raw: str, role: Role) -> list[_Key]:
        keys: list[_Key] = []
        for position, item in enumerate((part.strip() for part in raw.split(",")), start=1):
            if not item:
                continue
            name, sep, secret = item.partition(":")
            if not sep:
                name, secret = f"{role.value}-{position}", item
            name, secret = name.strip(), secret.strip()
            if len(secret) < MIN_KEY_CHARS:
                raise ValueError(
                    f"API key '{name}' ({role.value}) is shorter than {MIN_KEY_CHARS} characters; use a random key"
                )
            keys.append(_Key(name, secret.encode("utf-8"), role))
        return keys

    def __len__(self) -> int:
        return len(self._keys)

    def lookup(self, presented: str | None) -> Principal | None:
        """The principal for a presented key, or None. Every configured key is compared (no early exit)."""
        if not presented:
            return None
        candidate = presented.encode("utf-8")
        found: Principal | None = None
        for key in self._keys:
            if hmac.compare_digest(candidate, key.secret) and found is None:
                found = Principal(key.name, key.role)
        return found


def presented_keys(authorizations: list[str], x_api_keys: list[str]) -> tuple[list[str], bool]:
    """Every key of every `Authorization: Bearer` and `X-API-Key` header (a repeated header is not
    ignored), and whether some Authorization header is not a Bearer key (refused as a whole)."""
    keys: list[str] = []
    malformed = False
    for authorization in authorizations:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            keys.append(value.strip())
        else:
            malformed = True
    keys += [value.strip() for value in x_api_keys if value.strip()]
    return keys, malformed


class FailedKeyLimiter:
    """Unknown keys per client address: `burst` failures at once, then `per_minute`; beyond that every
    request of that client is refused (429) until the bucket refills. Valid keys cost nothing."""

    def __init__(self, per_minute: float = 60.0, burst: int = 50, max_clients: int = 10_000) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(burst)
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._warned: set[str] = set()  # one warning per blocked client, not one per request

    def _tokens(self, client: str, now: float) -> float:
        tokens, last = self._buckets.get(client, (self.capacity, now))
        return min(self.capacity, tokens + (now - last) * self.rate)

    def blocked(self, client: str) -> float:
        """0 when the client may try a key, else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            tokens = self._tokens(client, now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) >= self.max_clients and client not in self._buckets:
                self._buckets.clear()  # bounded memory; a flood of addresses only resets the counts
                self._warned.clear()
            self._buckets[client] = (max(0.0, self._tokens(client, now) - 1.0), now)
            if client not in self._warned and self._tokens(client, now) < 1.0:
                self._warned.add(client)
                log.warning("too many unknown API keys from one client; refusing it for a while")


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key from `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    return None
