"""dcsim.dse: design-space exploration, ``dcsim dse SWEEP.toml`` (docs/dse.md).

- :mod:`.sweep`: sweep files: parse, validate and expand into design points;
- :mod:`.tasks`: the work of one compression, synthesis or point, on any worker;
- :mod:`.executors`: this process, a local process pool, or Dask;
- :mod:`.store`: the output folder (points as they finish, caches);
- :mod:`.runner`: the run (resume, shared caches, failures) and the results table.
"""
from .runner import TIME_PREFIX, RunStats, collect, run_sweep, write_tables
from .sweep import Sweep, SweepError, load_sweep

__all__ = ["RunStats", "Sweep", "SweepError", "TIME_PREFIX", "collect", "load_sweep", "run_sweep", "write_tables"]
