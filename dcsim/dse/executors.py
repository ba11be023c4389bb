"""Where the tasks of a sweep run: this process, a local process pool, or a Dask cluster.

Each executor has ``submit(fn, *args)``, ``wait(pending) -> done`` and ``close()``;
:func:`make_executor` picks one from ``--scheduler`` and ``--jobs``. Every executor hands back
each task as soon as it finishes (``wait`` returns it), so the runner stores every point as it
finishes: ``--jobs 1`` runs one pending task per ``wait``, not every task at ``submit``.

Workers of the local pool die with the ``dcsim dse`` process that started them, even when it is
killed with SIGKILL: each worker asks Linux for SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)``) and also runs a watchdog thread that exits when its parent
process changes (any POSIX system). Once the workers are gone the multiprocessing resource
tracker sees its pipe close and exits too.
"""
from __future__ import annotations

import itertools
import os
import sys
import threading
from concurrent.futures import FIRST_COMPLETED

__all__ = ["DaskExecutor", "PoolExecutor", "SerialExecutor", "make_executor"]


class _Lazy:
    """A task of the in-process executor: run by :meth:`SerialExecutor.wait`, in submission order."""

    _seq = itertools.count()

    def __init__(self, fn, args):
        self._fn, self._args, self.order = fn, args, next(self._seq)
        self._done, self._value = False, None

    def run(self) -> None:
        if not self._done:
            fn, args = self._fn, self._args
            self._fn = self._args = None
            self._value, self._done = fn(*args), True

    def result(self):
        self.run()
        return self._value


class SerialExecutor:
    """Runs the tasks in this process, one per :meth:`wait`, oldest first (``--jobs 1``).

    A task runs when the runner waits for it, not when it is submitted, so each point is stored
    as soon as it finishes and a killed sweep resumes from there.
    """

    name = "this process"

    def submit(self, fn, *args):
        return _Lazy(fn, args)

    def wait(self, pending):
        if not pending:
            return set()
        first = min(pending, key=lambda f: f.order)
        first.run()
        return {first}

    def close(self):
        pass


# ----------------------------------------------------------------------------- orphan-proof workers
PR_SET_PDEATHSIG = 1


def _set_parent_death_signal(sig: int) -> bool:
    """Linux: deliver ``sig`` to this process when the thread that started it exits. False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(ppid: int, interval: float) -> None:
    import time
    while True:
        time.sleep(interval)
        if os.getppid() != ppid:
            os._exit(1)  # the parent is gone (this process was re-parented): leave at once, nothing to save


def worker_init(parent_pid: int, interval: float = 1.0) -> None:
    """Initializer of every pool worker: die with the ``dcsim dse`` process ``parent_pid``.

    ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (Linux) kills the worker the moment its parent dies; a
    daemon thread that checks ``os.getppid()`` every ``interval`` seconds covers other systems
    and the parent dying before the prctl call.
    """
    import signal
    _set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)  # the parent died while this worker was starting
    threading.Thread(target=_watch_parent, args=(parent_pid, interval), name="dcsim-parent-watchdog",
                     daemon=True).start()


class PoolExecutor:
    """A local process pool (spawned workers, one BLAS thread each)."""

    def __init__(self, jobs: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.name = f"{jobs} local worker processes"
        for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
            os.environ.setdefault(v, "1")  # the workers inherit it: `jobs` processes, not jobs x cores threads
        self._new = lambda: ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=worker_init, initargs=(os.getpid(),))
        self._pool = self._new()

    def submit(self, fn, *args):
        from concurrent.futures.process import BrokenProcessPool
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool:  # a worker died (its tasks come back as errors): start a new pool
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new()
            return self._pool.submit(fn, *args)

    def wait(self, pending):
        from concurrent.futures import wait
        return wait(pending, return_when=FIRST_COMPLETED).done

    def close(self):
        self._pool.shutdown(wait=False, cancel_futures=True)


class DaskExecutor:
    """A dask.distributed cluster: ``tcp://HOST:PORT`` of a running scheduler, or ``local``."""

    def __init__(self, address: str, jobs: int | None):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise RuntimeError("--scheduler needs dask.distributed: pip install 'dcsim[dse]'") from None
        self._cluster = None
        self._client = None
        try:
            self._connect(address, jobs, Client, LocalCluster)
            self._check_workers()
        except BaseException:
            self.close()
            raise

    def _connect(self, address, jobs, Client, LocalCluster) -> None:
        if address == "local":
            n = jobs or os.cpu_count() or 1
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self._client = Client(self._cluster)
            self.name = f"a Dask LocalCluster of {n} workers"
        else:
            # tls:// takes its certificates from dask's config (distributed.comm.tls.*, e.g. the
            # DASK_DISTRIBUTED__COMM__TLS__* variables): Security() reads them (docs/dse.md)
            from distributed.security import Security
            security = Security()
            if address.startswith("tls://") and not security.tls_ca_file:
                raise RuntimeError(f"--scheduler {address}: tls:// needs dask's TLS config (distributed.comm.tls.ca-file, "
                                   "and client.cert/client.key if the scheduler asks for them, e.g. "
                                   "DASK_DISTRIBUTED__COMM__TLS__CA_FILE; docs/dse.md)")
            self._client = Client(address, timeout="10s", security=security)
            self.name = f"the Dask scheduler at {address}"

    def _check_workers(self) -> None:
        from dcsim import __version__
        versions = self._client.run(_dcsim_version)
        bad = {w: v for w, v in versions.items() if v != __version__}
        if bad:
            w, v = next(iter(bad.items()))
            raise RuntimeError(f"worker {w} runs dcsim {v}; this is dcsim {__version__} (install the same on every "
                               "worker)")

    def submit(self, fn, *args):
        return self._client.submit(fn, *args, pure=False)

    def wait(self, pending):
        from distributed import wait
        return wait(list(pending), return_when="FIRST_COMPLETED").done

    def close(self):
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def _dcsim_version() -> str:
    try:
        from dcsim import __version__
        return __version__
    except Exception as e:  # noqa: BLE001
        return f"not importable ({e})"


def make_executor(scheduler: str | None, jobs: int | None):
    """The executor for ``--scheduler`` / ``--jobs`` (see the module docstring)."""
    if scheduler:
        return DaskExecutor(scheduler, jobs)
    jobs = jobs or os.cpu_count() or 1
    return SerialExecutor() if jobs == 1 else PoolExecutor(jobs)
