"""What a plugin can ask of its host while it handles one event: the tenant's
configuration, a key-value store scoped to the tenant, and a log.

Nothing a plugin keeps in memory survives the event (every event runs in a fresh
instance): state that must last goes in :meth:`Context.kv`.
"""

from __future__ import annotations

import time
from typing import Optional, Protocol


class Level:
    """Log levels, as the WIT's ``log.level``."""

    TRACE = "trace"
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"

    ALL = (TRACE, DEBUG, INFO, WARN, ERROR)


class PluginError(Exception):
    """A failure the plugin reports itself: the caller gets the tenant's fallback.

    Raise one of the three kinds; any other exception escaping a plugin is reported as
    :class:`Internal` with its message.
    """

    kind = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.message == self.message  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.kind, self.message))


class BadEvent(PluginError):
    """The event lacks something the plugin needs."""

    kind = "bad-event"


class Unavailable(PluginError):
    """A dependency (configuration, the store) was unavailable."""

    kind = "unavailable"


class Internal(PluginError):
    """Anything else."""

    kind = "internal"


class KvError(Unavailable):
    """A key-value operation failed. ``reason`` is ``too-large``, ``unavailable`` or
    ``quota-exceeded``. It is an :class:`Unavailable`, so letting it escape gives the
    caller the fallback, as ``?`` does in Rust."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"key-value store: {reason}: {message}")
        self.reason = reason
        self.detail = message


class Host(Protocol):
    """The host's side of the contract, one method per WIT import. Plugins use
    :class:`Context`; the SDK has two hosts: the component's imports, and the in-memory
    one of :class:`callflow_sdk.testing.Harness`."""

    def log(self, level: str, message: str) -> None: ...

    def config(self, key: str) -> Optional[str]: ...

    def kv_get(self, key: str) -> Optional[bytes]: ...

    def kv_set(self, key: str, value: bytes, ttl_ms: Optional[int]) -> None: ...

    def kv_delete(self, key: str) -> bool: ...

    def kv_compare_and_swap(
        self,
        key: str,
        expected: Optional[bytes],
        new: Optional[bytes],
        ttl_ms: Optional[int],
    ) -> bool: ...

    def now_ms(self) -> int: ...


class Kv:
    """The tenant's key-value store: no tenant sees another's keys. Keys are at most
    1 KiB, values 64 KiB; every operation raises :class:`KvError` on failure."""

    def __init__(self, host: Host) -> None:
        self._host = host

    def get(self, key: str) -> Optional[bytes]:
        """The value under ``key``, if any and not expired."""
        return self._host.kv_get(key)

    def get_str(self, key: str) -> Optional[str]:
        """The value under ``key`` as UTF-8 text."""
        value = self.get(key)
        return None if value is None else value.decode("utf-8")

    def set(self, key: str, value: bytes | str, ttl_ms: Optional[int] = None) -> None:
        """Stores ``value`` under ``key``; with ``ttl_ms`` it expires after that long."""
        self._host.kv_set(key, _bytes(value), ttl_ms)

    def delete(self, key: str) -> bool:
        """Removes ``key``; true when it existed."""
        return self._host.kv_delete(key)

    def compare_and_swap(
        self,
        key: str,
        expected: Optional[bytes | str],
        new: Optional[bytes | str],
        ttl_ms: Optional[int] = None,
    ) -> bool:
        """Atomically replaces the value of ``key`` with ``new`` (``None`` deletes it) if
        its current value is ``expected`` (``None``: absent). True when it swapped."""
        return self._host.kv_compare_and_swap(
            key,
            None if expected is None else _bytes(expected),
            None if new is None else _bytes(new),
            ttl_ms,
        )


class Context:
    """Everything a plugin can ask of its host while it handles one event."""

    def __init__(self, host: Host) -> None:
        self._host = host

    def config(self, key: str) -> Optional[str]:
        """The tenant's configuration value for ``key``, if set."""
        return self._host.config(key)

    def require_config(self, key: str) -> str:
        """The value for ``key``, or :class:`Unavailable` naming the missing key."""
        value = self.config(key)
        if value is None:
            raise Unavailable(f"tenant configuration has no `{key}`")
        return value

    def kv(self) -> Kv:
        """The tenant's key-value store."""
        return Kv(self._host)

    def now_ms(self) -> int:
        """The wall clock in milliseconds since the Unix epoch: the host's in a
        component, the harness's own (movable) clock in tests."""
        return self._host.now_ms()

    def log(self, level: str, message: str) -> None:
        """Writes one line to the host's log, tagged with tenant, session and event.
        Lines beyond the host's per-event budget are dropped."""
        self._host.log(level, message)

    def trace(self, message: str) -> None:
        self.log(Level.TRACE, message)

    def debug(self, message: str) -> None:
        self.log(Level.DEBUG, message)

    def info(self, message: str) -> None:
        self.log(Level.INFO, message)

    def warn(self, message: str) -> None:
        self.log(Level.WARN, message)

    def error(self, message: str) -> None:
        self.log(Level.ERROR, message)


def system_now_ms() -> int:
    """The system clock; in a component, the host's (through WASI's wall clock)."""
    return time.time_ns() // 1_000_000


def _bytes(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)
