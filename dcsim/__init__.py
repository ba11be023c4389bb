"""dcsim: the flow that wires every package together, and the command line.

- :mod:`.flow`: ``evaluate`` one workload on one machine with one set of settings;
- :mod:`.cli`, :mod:`.commands`, :mod:`.options`: ``dcsim COMMAND`` and its one error boundary;
- :mod:`.configfile`: TOML config files (``[accel]``, ``[compress]``);
- :mod:`.dse`: design-space sweeps on a process pool or Dask.

May import every other package; none imports it.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dcsim")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"
