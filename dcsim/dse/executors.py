"""Where the tasks of a sweep run: this process, a local process pool, or a Dask cluster.

Each executor has ``submit(fn, *args)``, ``wait(pending) -> done`` and ``close()``;
:func:`make_executor` picks one from ``--scheduler`` and ``--jobs``.
"""
from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED

__all__ = ["DaskExecutor", "PoolExecutor", "SerialExecutor", "make_executor"]


class _Done:
    """A finished future for the in-process executor."""

    def __init__(self, value):
        self._v = value

    def result(self):
        return self._v


class SerialExecutor:
    """Runs each task in this process when it is submitted (``--jobs 1``)."""

    name = "this process"

    def submit(self, fn, *args):
        return _Done(fn(*args))

    def wait(self, pending):
        return set(pending)

    def close(self):
        pass


class PoolExecutor:
    """A local process pool (spawned workers, one BLAS thread each)."""

    def __init__(self, jobs: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.name = f"{jobs} local worker processes"
        for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
            os.environ.setdefault(v, "1")  # the workers inherit it: `jobs` processes, not jobs x cores threads
        self._new = lambda: ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
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
        if address == "local":
            n = jobs or os.cpu_count() or 1
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self._client = Client(self._cluster)
            self.name = f"a Dask LocalCluster of {n} workers"
        else:
            self._client = Client(address, timeout="10s")
            self.name = f"the Dask scheduler at {address}"
        self._check_workers()

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
