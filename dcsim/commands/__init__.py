"""dcsim.commands: one module per family of ``dcsim`` subcommands, each a ``cmd_*(args) -> int``.

- :mod:`.compression`: ``compress``, ``inspect``, ``recipe``;
- :mod:`.evaluation`: ``simulate``, ``energy``, ``report`` (all on dcsim/flow.py);
- :mod:`.hardware`: ``verilog``, ``synth`` (the machine's RTL generator);
- :mod:`.sweeps`: ``dse``.

The parser and the error boundary are in dcsim/cli.py; the shared options in dcsim/options.py.
"""
