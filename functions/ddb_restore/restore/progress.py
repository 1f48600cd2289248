"""Progress of a run: a bar on a terminal (items of total, capacity units per second, ETA), log lines otherwise.

`unit` names the capacity units counted: write units for a restore, read units for a verify."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from ..clock import Clock

__all__ = ["Progress"]


class Progress:
    """Thread-safe counters fed by every writer, shown by one background thread."""

    def __init__(
        self, total: int, *, clock: Clock, stream: TextIO = sys.stderr, interval: float = 10.0, unit: str = "WCU"
    ) -> None:
        self.total = total
        self.unit = unit
        self.items = 0
        self.units = 0
        self._lock = threading.Lock()
        self._stream = stream
        self._interval = interval
        self._stop = threading.Event()
        self._clock = clock
        self._started = clock.monotonic()
        self._thread: threading.Thread | None = None

    def __call__(self, items: int, units: int) -> None:
        with self._lock:
            self.items += items
            self.units += units

    def __enter__(self) -> Progress:
        self._thread = threading.Thread(target=self._show, name="progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _line(self) -> str:
        elapsed = max(self._clock.monotonic() - self._started, 1e-6)
        rate = self.units / elapsed
        done = self.items / self.total if self.total else 1.0
        eta = elapsed * (1 - done) / done if done > 0 else 0.0
        return f"{self.items:,}/{self.total:,} records ({done:.0%}), {rate:,.0f} {self.unit}/s, ETA {eta:,.0f} s"

    def _show(self) -> None:
        if self._stream.isatty():
            from tqdm import tqdm

            with tqdm(total=self.total, unit="rec", file=self._stream, dynamic_ncols=True) as bar:
                while not self._stop.wait(0.5):
                    bar.update(self.items - bar.n)
                    rate = self.units / max(self._clock.monotonic() - self._started, 1e-6)
                    bar.set_postfix_str(f"{rate:,.0f} {self.unit}/s")
                bar.update(self.items - bar.n)
            return
        while not self._stop.wait(self._interval):
            print(f"progress: {self._line()}", file=self._stream, flush=True)
