"""CompressionConfig: the compression recipe (pruning, trained quantization, Huffman coding,
the storage form, and the retraining schedule).

The methods are chosen by name: ``prune_method`` names a pruner and ``quantizer`` a quantizer
of the registry (compress/methods/); the built-in ones are magnitude pruning (``density``,
``threshold``) and k-means weight sharing (``kmeans``). Per-layer overrides are keyed by layer
name (``fc1``, ``conv2``, ...). There is no other compression config.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from arch.configio import ConfigMixin, check
from network.graph import LayerKind


class KMeansInit(str, enum.Enum):
    """Centroid initialisation for 1-D k-means (Deep Compression, Sec. 3.2)."""

    LINEAR = "linear"    # evenly spaced over [min, max]
    DENSITY = "density"  # evenly spaced in the CDF of the weights
    RANDOM = "random"    # Forgy: k distinct weights drawn at random
    OPTIMAL = "optimal"  # the exact optimum of 1-D k-means (dynamic programming), no Lloyd needed


def _check_fraction(name: str, v: float) -> None:
    check(isinstance(v, float) and 0.0 < v <= 1.0, f"{name} = {v!r} is not allowed; use a number in (0, 1]")


@dataclass(frozen=True)
class CompressionConfig(ConfigMixin):
    """The compression recipe.

    Structure: ``structure`` names a transform of the network that runs before pruning, followed
    by ``retrain_epochs`` of retraining: ``none``; ``l1_filter`` (Li et al.: keep the fraction
    ``keep`` of each layer's output filters or neurons with the largest L1 norm, the output layer
    excepted; ``layer_keep`` per layer); ``neuron_merge`` (Srinivas and Babu: merge the most
    similar neurons of FC layers followed by a ReLU, down to the fraction ``keep`` / ``layer_keep``);
    ``lowrank`` (SVD of each FC layer into two thinner layers keeping the fraction
    ``lowrank_energy`` of the squared singular values; ``layer_rank`` gives a rank per layer).

    Pruning: ``prune_method`` names the pruner (compress/methods/): ``density`` keeps the
    fraction ``density`` of each layer's weights (``obd``: the same fraction by Optimal Brain
    Damage saliency, from ``importance_samples`` training samples), ``threshold`` keeps those above ``quality``
    x the standard deviation of the layer's weights; per-layer values in ``layer_density`` /
    ``layer_quality`` override them. Pruning is
    done in ``prune_iterations`` steps (density interpolated geometrically),
    each followed by ``retrain_epochs`` of masked retraining.

    Quantization: ``quantizer`` names the weight-sharing method (``kmeans``: k-means with
    ``kmeans_init``, ``kmeans_max_iter`` and ``kmeans_relocate``; ``hessian_kmeans``: the same
    weighted by the diagonal Hessian of the loss, from ``importance_samples`` training samples;
    ``pq``: product quantization of each row's sub-vectors of ``pq_subvector`` weights), with ``conv_bits`` / ``fc_bits`` per layer kind
    (``layer_bits`` overrides), then ``finetune_epochs`` of centroid fine-tuning.

    Centroid fine-tuning runs at ``learning_rate x finetune_lr_scale`` (unset: ``retrain_lr_scale``).
    A centroid's gradient is the sum over the weights that share it (Deep Compression, Eq. 3), so
    denser layers or fewer bits need a smaller scale.

    Training: SGD with momentum and cosine decay; ``augment_shift`` shifts
    training images by up to that many pixels (0 = no augmentation). A method that trains with a
    penalty (L1, group lasso, a prior) trains ``penalty_epochs`` with it, of strength ``penalty``,
    before each pruning step; a quantizer that trains through quantized weights (a
    straight-through estimator) trains ``qat_epochs`` before its weights are shared. ``distill``:
    every retraining learns from the float model as a teacher too (Hinton et al.: the loss is
    ``distill_alpha`` x T^2 x KL of the softened outputs at temperature ``distill_temperature``
    plus ``1 - distill_alpha`` x the cross-entropy of the labels).

    Storage form: relative indices of ``conv_rel_bits`` / ``fc_rel_bits``
    with filler zeros; weight and relative indices are Huffman-coded (the
    report gives the rates with and without it).
    """

    # structure: whole neurons / filters removed, or layers factorized, before pruning
    structure: str = "none"
    keep: float = 1.0
    layer_keep: dict[str, float] = field(default_factory=dict)
    lowrank_energy: float = 0.9
    layer_rank: dict[str, int] = field(default_factory=dict)
    # pruning
    prune_method: str = "density"
    density: float = 0.1
    quality: float = 1.0
    layer_density: dict[str, float] = field(default_factory=dict)
    layer_quality: dict[str, float] = field(default_factory=dict)
    prune_iterations: int = 1
    retrain_epochs: int = 4
    penalty: float = 1e-4
    penalty_epochs: int = 0
    # trained quantization
    quantizer: str = "kmeans"
    conv_bits: int = 8
    fc_bits: int = 5
    layer_bits: dict[str, int] = field(default_factory=dict)
    kmeans_init: KMeansInit = KMeansInit.LINEAR
    kmeans_max_iter: int = 1000
    kmeans_relocate: bool = False
    pq_subvector: int = 4
    importance_samples: int = 1000
    qat_epochs: int = 0
    qat_lr_scale: float | None = None
    finetune_epochs: int = 2
    # Deep Compression storage form + Huffman
    conv_rel_bits: int = 8
    fc_rel_bits: int = 5
    # training (baseline, retraining and fine-tuning share the optimizer settings)
    baseline_epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 0.05
    retrain_lr_scale: float = 0.1
    finetune_lr_scale: float | None = None
    momentum: float = 0.9
    weight_decay: float = 1e-4
    augment_shift: int = 0
    distill: bool = False
    distill_temperature: float = 4.0
    distill_alpha: float = 0.9
    seed: int = 0

    def __post_init__(self) -> None:
        from .methods import PRUNERS, QUANTIZERS, TRANSFORMS

        if not isinstance(self.kmeans_init, KMeansInit):
            try:
                object.__setattr__(self, "kmeans_init", KMeansInit(self.kmeans_init))
            except ValueError:
                allowed = ", ".join(repr(m.value) for m in KMeansInit)
                check(False, f"kmeans_init = {self.kmeans_init!r} is not allowed; choose one of {allowed}")
        for name, registry in (("structure", TRANSFORMS), ("prune_method", PRUNERS), ("quantizer", QUANTIZERS)):
            v = getattr(self, name)
            check(isinstance(v, str) and v in registry,
                  f"{name} = {v!r} is not allowed; choose one of {', '.join(map(repr, registry.names()))}")
        _check_fraction("keep", self.keep)
        for k, v in self.layer_keep.items():
            _check_fraction(f"layer_keep.{k}", v)
        _check_fraction("lowrank_energy", self.lowrank_energy)
        for k, v in self.layer_rank.items():
            check(isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                  f"layer_rank.{k} = {v!r} is not allowed; use an integer >= 1")
        _check_fraction("density", self.density)
        for k, v in self.layer_density.items():
            _check_fraction(f"layer_density.{k}", v)
        check(isinstance(self.quality, float) and 0.0 <= self.quality <= 10.0,
              f"quality = {self.quality!r} is not allowed; use a number in [0, 10]")
        for k, v in self.layer_quality.items():
            check(isinstance(v, float) and 0.0 <= v <= 10.0,
                  f"layer_quality.{k} = {v!r} is not allowed; use a number in [0, 10]")
        check(isinstance(self.distill, bool), f"distill = {self.distill!r} is not allowed; use true or false")
        check(isinstance(self.kmeans_relocate, bool),
              f"kmeans_relocate = {self.kmeans_relocate!r} is not allowed; use true or false")
        check(isinstance(self.pq_subvector, int) and not isinstance(self.pq_subvector, bool)
              and self.pq_subvector >= 1,
              f"pq_subvector = {self.pq_subvector!r} is not allowed; use an integer >= 1")
        for name in ("conv_bits", "fc_bits"):
            v = getattr(self, name)
            check(isinstance(v, int) and 1 <= v <= 8, f"{name} = {v!r} is not allowed; use an integer in 1..8")
        for k, v in self.layer_bits.items():
            check(isinstance(v, int) and 1 <= v <= 8,
                  f"layer_bits.{k} = {v!r} is not allowed; use an integer in 1..8")
        for name in ("conv_rel_bits", "fc_rel_bits"):
            v = getattr(self, name)
            check(isinstance(v, int) and 1 <= v <= 16, f"{name} = {v!r} is not allowed; use an integer in 1..16")
        for name, lo, hi in (("prune_iterations", 1, 20), ("retrain_epochs", 0, 1000),
                             ("finetune_epochs", 0, 1000), ("baseline_epochs", 0, 1000),
                             ("kmeans_max_iter", 1, 100000), ("batch_size", 1, 65536),
                             ("augment_shift", 0, 8), ("importance_samples", 1, 60000),
                             ("penalty_epochs", 0, 1000), ("qat_epochs", 0, 1000)):
            v = getattr(self, name)
            check(isinstance(v, int) and lo <= v <= hi, f"{name} = {v!r} is not allowed; use an integer in {lo}..{hi}")
        for name, lo, hi in (("learning_rate", 0.0, 10.0), ("retrain_lr_scale", 0.0, 10.0),
                             ("momentum", 0.0, 0.999), ("weight_decay", 0.0, 1.0), ("penalty", 0.0, 100.0),
                             ("distill_temperature", 0.1, 100.0), ("distill_alpha", 0.0, 1.0)):
            v = getattr(self, name)
            check(isinstance(v, float) and lo <= v <= hi, f"{name} = {v!r} is not allowed; use a number in [{lo}, {hi}]")
        check(self.qat_lr_scale is None or (isinstance(self.qat_lr_scale, float) and 0.0 <= self.qat_lr_scale <= 10.0),
              f"qat_lr_scale = {self.qat_lr_scale!r} is not allowed; use a number in [0, 10] or leave it unset "
              "(= retrain_lr_scale)")
        check(self.finetune_lr_scale is None or (isinstance(self.finetune_lr_scale, float)
                                                 and 0.0 <= self.finetune_lr_scale <= 10.0),
              f"finetune_lr_scale = {self.finetune_lr_scale!r} is not allowed; use a number in [0, 10] "
              "or leave it unset (= retrain_lr_scale)")
        check(isinstance(self.seed, int) and self.seed >= 0, f"seed = {self.seed!r} is not allowed; use an integer >= 0")

    # ---- per-layer lookups ----
    def bits_for(self, name: str, kind: LayerKind | str) -> int:
        """Codebook index bits of layer ``name`` (per-layer override, else by kind)."""
        if name in self.layer_bits:
            return self.layer_bits[name]
        return self.conv_bits if LayerKind(kind) is LayerKind.CONV else self.fc_bits

    def rel_bits_for(self, kind: LayerKind | str) -> int:
        """Relative-index bits of Deep Compression's storage form for a layer kind."""
        return self.conv_rel_bits if LayerKind(kind) is LayerKind.CONV else self.fc_rel_bits

    def qat_lr_for(self) -> float:
        """The learning-rate scale of quantization-aware training."""
        return self.retrain_lr_scale if self.qat_lr_scale is None else self.qat_lr_scale

    def finetune_lr_for(self) -> float:
        """The learning-rate scale of centroid fine-tuning."""
        return self.retrain_lr_scale if self.finetune_lr_scale is None else self.finetune_lr_scale

    def keep_for(self, name: str) -> float:
        """The fraction of ``name``'s output neurons / filters a structural transform keeps."""
        return self.layer_keep.get(name, self.keep)

    def density_for(self, name: str) -> float:
        return self.layer_density.get(name, self.density)

    def quality_for(self, name: str) -> float:
        return self.layer_quality.get(name, self.quality)

    #: The per-layer tables, keyed by layer name, in the order :meth:`check_layer_names` checks them.
    LAYER_TABLES = ("layer_keep", "layer_rank", "layer_density", "layer_quality", "layer_bits")

    #: The per-layer tables of the structural transform: keyed by the layers before it; the others
    #: are keyed by the layers after it (``fc1_a`` and ``fc1_b`` once ``lowrank`` split ``fc1``).
    STRUCTURE_TABLES = ("layer_keep", "layer_rank")

    def check_layer_names(self, names: list[str], tables: tuple[str, ...] | None = None) -> None:
        """Raise ConfigError (one line) for the first key of a per-layer table (``tables``, default
        all of :attr:`LAYER_TABLES`, in that order) that is not one of the layer ``names``,
        e.g. ``[compress.layer_density] fc_1: no such layer; the layers are fc1, fc2, fc3``.

        The config alone cannot know the network, so the caller checks once it has one (a typo in
        a layer name would otherwise be ignored silently and the layer get the default).
        """
        names = [str(n) for n in names]
        known = set(names)
        for table in self.LAYER_TABLES if tables is None else tables:
            for key in getattr(self, table):
                if key not in known:
                    layers = f"the layers are {', '.join(names)}" if names else "the network has no weight layers"
                    check(False, f"[compress.{table}] {key}: no such layer; {layers}")
