"""The lease that keeps two syncs of one target from running at once.

It lives in the state object (`lease`: a holder id and an expiry time) and is taken, renewed and given back by
conditional writes of that object (state.py): of two syncs that read the same state, only one write succeeds.
A lease that has expired is free, so a sync killed while holding it blocks the next one for at most
`LEASE_SECONDS` (or the `seconds` it was taken for). The holder renews it while it waits for its export and while it
writes (`keep_alive`, cheap to call often); a holder that finds its lease taken over stops at its next write.
A holder that runs as several processes one after the other (the sync state machine's Lambda steps) names itself
(`holder`) and takes the lease back in a later step with `resume`.
"""

from __future__ import annotations

import threading
import uuid

from ..clock import Clock
from ..errors import SyncRefused
from .state import StateStore, SyncState, iso

__all__ = ["Lease", "LEASE_SECONDS"]

LEASE_SECONDS = 600.0


class Lease:
    """A held lease on `store`'s state; every state change goes through `save` so the lease stays held."""

    def __init__(
        self, store: StateStore, state: SyncState, clock: Clock, holder: str, seconds: float = LEASE_SECONDS
    ) -> None:
        self.store = store
        self.state = state
        self.clock = clock
        self.holder = holder
        self.seconds = seconds
        self._renewed = clock.time()
        self._lock = threading.Lock()

    @classmethod
    def take(
        cls,
        store: StateStore,
        source: str,
        table: str,
        clock: Clock,
        *,
        holder: str | None = None,
        seconds: float = LEASE_SECONDS,
    ) -> Lease:
        """Read the state (a new one when there is none) and take its lease for `seconds`; SyncRefused when
        another sync holds it or the state is another source's. A named `holder` takes its own lease again (a step
        retried after it took it)."""
        state = store.load() or SyncState(source=source, table=table)
        if state.source != source:
            raise SyncRefused(
                f"{store.url} syncs {state.table} from {state.source}, not from {source}: "
                "a target has one source (give that one, or another --table)"
            )
        now = clock.time()
        held = state.lease
        if held and float(held.get("expires", 0)) > now and not (holder and held.get("holder") == holder):
            raise SyncRefused(
                f"another sync of {table} is running (lease {held.get('holder')} until {iso(float(held['expires']))} "
                f"in {store.url}): wait for it, or until the lease expires if it was killed"
            )
        lease = cls(store, state, clock, holder=holder or uuid.uuid4().hex, seconds=seconds)
        lease.save()
        return lease

    @classmethod
    def resume(cls, store: StateStore, holder: str, clock: Clock, *, seconds: float = LEASE_SECONDS) -> Lease:
        """The lease `holder` took in an earlier step, read back; SyncRefused when it is no longer its own."""
        state = store.load()
        held = (state.lease if state else None) or {}
        if state is None or held.get("holder") != holder:
            raise SyncRefused(
                f"{store.url}: the lease of sync {holder} was taken over by {held.get('holder') or 'nobody'} "
                "(it had expired?): this sync stops without writing; the next one starts from the state as it is"
            )
        return cls(store, state, clock, holder=holder, seconds=seconds)

    def save(self) -> None:
        """Write the state with the lease renewed."""
        with self._lock:
            self._renewed = self.clock.time()
            self.state.lease = {"holder": self.holder, "expires": self._renewed + self.seconds}
            self.store.save(self.state)

    def keep_alive(self) -> None:
        """Renew when a third of the lease has passed; from any thread."""
        if self.clock.time() - self._renewed > self.seconds / 3:
            self.save()

    def release(self) -> None:
        with self._lock:
            self.state.lease = None
            self.store.save(self.state)
