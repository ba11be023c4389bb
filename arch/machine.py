"""The machine interface: what dcsim needs of an accelerator to simulate and cost a layer.

EIE (machines/eie.py) is the first implementation; ``[accel] kind`` selects one by name from
:data:`MACHINES`. A machine brings, in one module (docs/design.md, "Adding a machine"):

- a **config class**: a frozen dataclass with the config plumbing of arch/configio.py
  (``ConfigMixin``), a ``kind`` field, ``clock_mhz``, ``tech_node`` and the fixed-point fields
  of arch/fixedpoint.py (``act_bits``, ``act_frac_bits``, ``weight_bits``, ``acc_bits``,
  ``acc_frac_bits``, ``overflow``);
- its **stream encoding**: :meth:`Machine.prepare` turns a layer's codebook indices into what
  the machine holds (EIE: interleaved CSC per PE, tiled into passes and batches);
- its **simulation**: :meth:`Machine.run` runs one input vector through a prepared layer and
  returns a ``sim.results.LayerResult`` (outputs bit-exact to the fixed-point reference,
  cycles, and access counts keyed by :attr:`Machine.components`);
- its **per-action energies**: :meth:`Machine.action_energies` prices one access of each
  component from the energy table (energy_model/);
- optionally an **RTL generator** (:attr:`Machine.rtl`), used by ``dcsim verilog`` and
  ``dcsim synth``.

The flow (dcsim/flow.py), the simulator's network runner (sim/network.py), the energy model and
the reports only use this interface, so a new machine needs no edits elsewhere.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from .configio import ConfigError, from_dict
from .registry import Registry

if TYPE_CHECKING:  # only for annotations: arch imports nothing above it
    import numpy as np

    from .fixedpoint import LayerFormat

__all__ = ["Machine", "MACHINES", "DEFAULT_KIND", "get_machine", "machine_config_from_dict"]

#: The machine a config without ``kind`` describes.
DEFAULT_KIND = "eie"


class Machine:
    """One kind of accelerator. Subclass it, set the class attributes, and register an instance::

        MACHINES.register("dense", DenseMachine())
    """

    #: The name ``[accel] kind`` selects.
    kind: ClassVar[str]
    #: The config dataclass (its ``kind`` field defaults to :attr:`kind`).
    config_class: ClassVar[type]
    #: Access-count components, in report order: the keys of ``accesses``.
    components: ClassVar[tuple[str, ...]]
    #: Components that store data: they have a write energy ``<component>_write`` too.
    storage_components: ClassVar[tuple[str, ...]] = ()
    #: One line for listings.
    description: ClassVar[str] = ""
    #: The RTL generator (an object with ``export_layer`` and ``synthesize``), or None.
    rtl: ClassVar[Any] = None

    # ---- encoding and simulation
    def layer_config(self, cfg, index_bits: int):
        """The machine re-targeted to a layer with ``index_bits``-bit codebook indices (default: as is)."""
        return cfg

    def retarget_note(self, cfg, layer_cfg) -> str:
        """Why :meth:`layer_config` changed the machine for a layer, or ``""``."""
        return ""

    #: Config fields that change how a prepared layer runs but not what :meth:`prepare` builds
    #: (EIE: the FIFO depth, the clock, the node). A sweep's points that differ only in them share
    #: one prepared layer (:meth:`reuse_prepared`); the default, none, shares only equal configs.
    timing_only_fields: ClassVar[tuple[str, ...]] = ()

    def prepare(self, indices: "np.ndarray", cfg, *, enforce_capacity: bool = True) -> Any:
        """Encode a layer (codebook indices, out x in, bias column last) for the machine, once."""
        raise NotImplementedError

    def reuse_prepared(self, prepared: Any, cfg) -> Any:
        """A layer prepared for a config that differs from ``cfg`` at most in
        :attr:`timing_only_fields`, made ready to run on ``cfg`` (default: as is)."""
        return prepared

    def run(self, prepared: Any, codebook_q: "np.ndarray", x: "np.ndarray", fmt: "LayerFormat", relu: bool):
        """Run one int64 input vector (activation format, bias column included) through a prepared
        layer; returns a ``sim.results.LayerResult``."""
        raise NotImplementedError

    def run_batch(self, prepared: Any, codebook_q: "np.ndarray", X: "np.ndarray", fmt: "LayerFormat", relu: bool):
        """Run K input vectors (the rows of an int64 ``(K, n_cols)`` array) through a prepared layer;
        returns one ``sim.results.LayerResult`` of the K runs, equal to merging the K results of
        :meth:`run` (outputs ``(K, n_rows)``, sums of the rest, ``runs = K``).

        The default loops :meth:`run` and merges (``type(results[0]).merge``); a machine with a
        batched engine overrides it (EIE: ``sim.engine.run_batch``).
        """
        if len(X) == 0:
            raise ValueError("X holds no input vectors (K = 0); a batch needs at least one row")
        results = [self.run(prepared, codebook_q, x, fmt, relu) for x in X]
        return type(results[0]).merge(results)

    # ---- energy
    def action_energies(self, cfg, table) -> dict:
        """The energy (``energy_model.EnergyEntry``) of one access of every component, plus
        ``<component>_write`` for the storage components."""
        raise NotImplementedError

    #: The machine's modules in report order, and the module of every access component: the
    #: per-module breakdown (EIE: the modules of its per-PE power table). The per-cycle energies
    #: (``clock``, ``control``, ``leakage``) are modules of their own.
    modules: ClassVar[tuple[str, ...]] = ()
    component_modules: ClassVar[dict[str, str]] = {}
    #: The kind of circuit of every access component (``memory``, ``registers`` or
    #: ``combinational``): the by-kind breakdown, next to ``clock`` and ``leakage``.
    component_kinds: ClassVar[dict[str, str]] = {}

    def cycle_energies(self, cfg, table) -> dict:
        """The energy of one cycle of the whole machine that no access count carries, as
        ``energy_model.EnergyEntry``: ``clock`` (the clock network), ``control`` (control and
        per-cycle logic) and ``leakage`` (static power). Empty when the machine models none."""
        return {}

    def cycle_energies_by_module(self, cfg, table) -> dict:
        """Each of :meth:`cycle_energies` split over the machine's modules: ``{item: {module: pJ}}``,
        each summing to the item's energy; empty when the machine does not split them."""
        return {}

    def area(self, cfg, override=None) -> Any:
        """The machine's area at ``cfg.tech_node`` (``energy_model.chip.Area``: per module, per PE,
        per chip), with the ``[areas]`` of the override file ``override`` (``--energy-table``), or
        None when the machine models none."""
        return None

    def scenarios(self, run, cfg, table, *, dram_form_bits: dict | None, independent_layers: bool) -> dict | None:
        """Where the weights live: the access energies of the weights in DRAM versus on chip, or None."""
        return None

    def point_columns(self, run) -> dict:
        """Machine-specific columns of a design-space point (``dcsim dse``): name -> value."""
        return {}


#: Machines by kind; the built-in ones are registered by the ``machines`` package.
MACHINES: Registry[Machine] = Registry("machine kind", builtins=("machines",))


def get_machine(kind_or_config) -> Machine:
    """The machine of a kind name or of a config (its ``kind``)."""
    kind = kind_or_config if isinstance(kind_or_config, str) else getattr(kind_or_config, "kind", None)
    return MACHINES.get(kind)


def machine_config_from_dict(data: dict, where: str = ""):
    """Build a machine config from a plain dict: ``kind`` (default ``"eie"``) picks the config class."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}config must be a table/object, got {type(data).__name__}")
    kind = data.get("kind", DEFAULT_KIND)
    if not isinstance(kind, str) or kind not in MACHINES:
        raise ConfigError(f"{where}kind = {kind!r} is not allowed; choose one of "
                          f"{', '.join(map(repr, MACHINES.names()))}")
    return from_dict(MACHINES.get(kind).config_class, data, where)
