"""Progress for a command's long steps: one bar of named steps on stderr.

Some steps have no progress of their own to report (reading an archive, encoding a layer, the
Yosys conversion of ``dcsim verilog``), so while a step runs on a terminal a background thread
refreshes the bar every half second: the step's name, how many are done, and the time so far.
Nothing is shown for commands that finish within ``delay`` seconds, or with ``--quiet``; off a
terminal (a log file) the bar is written only when a step starts, not every half second.
"""
from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator


class Steps:
    """``with Steps("inspect", 3, enabled) as steps: with steps.step("read the archive"): ...``"""

    def __init__(self, desc: str, total: int, enabled: bool = True, delay: float = 1.0, interval: float = 0.5):
        from tqdm import tqdm

        self.desc = desc
        self.enabled = enabled
        self.interval = interval
        self.t0 = time.monotonic()
        self.delay = delay
        self.tty = enabled and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self.bar = tqdm(total=total, desc=desc, unit="step", file=sys.stderr, leave=False, delay=delay,
                        disable=not enabled, dynamic_ncols=True,
                        bar_format="{desc} (step {n_fmt}/{total_fmt} done) [{elapsed}]")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            if time.monotonic() - self.t0 >= self.delay:
                self.bar.refresh()

    def set_total(self, total: int) -> None:
        """Change the number of steps (when it is known only after the first step)."""
        self.bar.total = total

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Run one named step; the bar counts it done when the block ends without an error."""
        if not self.enabled:
            yield
            return
        self.bar.set_description_str(f"{self.desc}: {name}", refresh=time.monotonic() - self.t0 >= self.delay)
        if self.tty and self._thread is None:
            self._thread = threading.Thread(target=self._tick, name="dcsim-progress", daemon=True)
            self._thread.start()
        yield
        self.bar.update(1)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.bar.close()

    def __enter__(self) -> "Steps":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
