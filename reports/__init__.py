"""reports: tables, CSV/JSON writers, plots and report documents.

Everything here formats results that other packages computed: the storage report
(compress/) and the sensitivity scan, sim.json (sim/), energy.json (energy_model/), ``dcsim report`` and the
design-space plots and ``dse.md``. May import arch, numpy and matplotlib (never pyplot).
"""
