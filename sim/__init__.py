"""sim: the simulators and the golden model.

- :mod:`.reference`: the numpy fixed-point reference (dense, exactly arch/fixedpoint.py), the
  golden model every engine and the RTL are compared with bit for bit;
- :mod:`.engine`: EIE's cycle-level engine (Numba; docs/microarchitecture.md); :mod:`.pyengine`:
  the same loop in plain Python, its independent check;
- :mod:`.network`: whole models (their graph: weight layers on the machine, one product per
  sample or conv output position; the operations between them on the host) and benchmark layers
  on any registered machine;
- :mod:`.results`: the result types (``LayerResult``, ``SimLayer``, ``SimRun``; sim.json);
- :mod:`.workloads`: EIE's nine benchmark layers as seeded synthetic workloads.

May import arch, network (the graph), compress (the archive and the quantizer) and numpy/numba.
Never hw.
"""
