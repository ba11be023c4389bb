"""machines: the accelerators dcsim simulates and costs, one module each, registered by kind.

- :mod:`machines.eie`: EIE (Han et al., ISCA 2016), ``[accel] kind = "eie"``, the default.

Each module implements ``arch.machine.Machine`` by wiring its parts together: its config class
(arch/), its stream encoding and simulation (sim/), its action energies (energy_model/) and,
optionally, its RTL (hw/), and registers an instance in ``arch.machine.MACHINES`` when it is
imported. This package is imported by the registry on the first lookup. May import arch,
compress, sim, energy_model and hw (sim and hw lazily, so that reading a config stays fast).
"""
from . import eie  # noqa: F401  (registers "eie")
