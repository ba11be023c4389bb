"""Low-rank factorization of fc layers by the truncated SVD.

An fc layer ``y = act(W x + b)`` with ``W`` (out x in) and ``W ~ U_r S_r V_r^T`` (the ``r``
largest singular values, Eckart-Young: the best rank-``r`` approximation in the Frobenius and
spectral norms) becomes two fc layers:

- ``<layer>_a`` = ``S_r^{1/2} V_r^T`` (r x in), zero bias, no ReLU;
- ``<layer>_b`` = ``U_r S_r^{1/2}`` (out x r), the original bias, ReLU and pooling.

This is the SVD weight factorization of Denton, Zaremba, Bruna, LeCun and Fergus, "Exploiting
Linear Structure Within Convolutional Networks for Efficient Evaluation", NIPS 2014 (Sec. 3.2
for fc layers), also Xue, Li and Gong, "Restructuring of deep neural network acoustic models
with singular value decomposition", Interspeech 2013. ``r (in + out)`` weights replace
``in x out``; it saves weights only when ``r < in x out / (in + out)``.

Pure numpy, no training; every transform returns a NEW :class:`~network.graph.Network`.

How it runs on EIE: a factorized layer is two layers. The machine runs ``<layer>_a`` (its
matrix ``r x in``, bias column all zero) without the ReLU, writes its ``r`` output activations
back quantized to the machine's fixed-point activation format, and runs ``<layer>_b`` on them
(``out x r``, the bias and ReLU of the original). The extra quantization of the ``r``
intermediate activations is the one numerical difference from the float model besides the
discarded singular values; the intermediate vector is dense (no ReLU), so ``<layer>_b`` gets no
activation sparsity.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from arch.errors import ModelError
from network.graph import FLOAT, LayerKind, Network, Node

__all__ = ["factorize_fc", "rank_for_energy", "svd_factors"]


def rank_for_energy(W: np.ndarray, energy: float) -> int:
    """The smallest rank ``r`` whose singular values keep at least the fraction ``energy``
    (0 < energy <= 1) of ``W``'s squared singular values (its squared Frobenius norm):
    ``sum_{k<=r} s_k^2 >= energy x sum_k s_k^2``. A zero matrix gives 1."""
    if not 0.0 < energy <= 1.0:
        raise ValueError(f"energy {energy} is not in (0, 1]")
    W = np.asarray(W, dtype=np.float64)
    s = np.linalg.svd(W.reshape(W.shape[0], -1), compute_uv=False)
    e = s * s
    total = float(e.sum())
    if total == 0.0:
        return 1
    cum = np.cumsum(e) / total
    r = int(np.searchsorted(cum, energy * (1.0 - 1e-12), side="left")) + 1
    return min(r, len(s))


def svd_factors(W: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """``(A, B)`` with ``A = S_r^{1/2} V_r^T`` (rank x in) and ``B = U_r S_r^{1/2}`` (out x rank),
    float64, so that ``B @ A`` is the best rank-``rank`` approximation of ``W`` (out x in)."""
    W = np.asarray(W, dtype=np.float64)
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    r = int(rank)
    root = np.sqrt(s[:r])
    return root[:, None] * Vt[:r], U[:, :r] * root[None, :]


def factorize_fc(net: Network, layer: str, rank: int) -> Network:
    """A new network where the fc ``layer`` is replaced by the two fc layers ``<layer>_a``
    (``S_r^{1/2} V_r^T``, rank x in, zero bias, no ReLU) and ``<layer>_b`` (``U_r S_r^{1/2}``,
    out x rank, the original bias, ReLU and pooling), ``r = rank`` (1 <= rank <= min(out, in)).

    Truncated-SVD factorization (Denton et al., NIPS 2014; Xue et al., Interspeech 2013); at
    full rank the network computes the same function (up to float32 rounding), below it
    ``||W - B A||_F^2`` is the sum of the discarded squared singular values. Works on a chain
    network (two specs in the chain) and on a graph network (two nodes replace the layer's
    node, with its attributes, e.g. ``per_position``; later nodes read ``<layer>_b``).

    On EIE: two layers, the first without ReLU, its ``rank`` activations quantized to the
    machine's activation format between them (see the module docstring).
    """
    try:
        spec = net.spec(layer)
    except KeyError:
        raise ModelError(f"layer {layer!r} is not a weight layer of {net.name}") from None
    if spec.kind is not LayerKind.FC:
        raise ModelError(f"layer {layer} is a conv layer; low-rank factorization applies to fc layers")
    out_n, in_n = spec.shape
    r = int(rank)
    if not 1 <= r <= min(out_n, in_n):
        raise ValueError(f"layer {layer}: rank {rank} is not in 1..{min(out_n, in_n)}")
    name_a, name_b = f"{layer}_a", f"{layer}_b"
    taken = {s.name for s in net.specs} | {n.name for n in net.graph}
    clash = [n for n in (name_a, name_b) if n in taken]
    if clash:
        raise ModelError(f"layer {layer}: cannot factorize, the name {clash[0]!r} is already used in {net.name}")
    A, B = svd_factors(net.params[layer], r)
    spec_a = dataclasses.replace(spec, name=name_a, shape=(r, in_n), relu=False, pool=0)
    spec_b = dataclasses.replace(spec, name=name_b, shape=(out_n, r))
    new = net.copy()
    del new.params[layer], new.params[layer + "_bias"]
    new.params[name_a] = A.astype(FLOAT)
    new.params[name_a + "_bias"] = np.zeros(r, dtype=FLOAT)
    new.params[name_b] = B.astype(FLOAT)
    new.params[name_b + "_bias"] = net.params[layer + "_bias"].astype(FLOAT, copy=True)
    specs = []
    for s in net.specs:
        specs.extend([spec_a, spec_b] if s.name == layer else [s])
    new.specs = specs
    if net.nodes is not None:
        nodes = []
        for n in net.nodes:
            if n.name == layer:
                nodes.append(Node(name_a, n.op, n.inputs, dict(n.attrs)))
                nodes.append(Node(name_b, n.op, (name_a,), dict(n.attrs)))
            else:
                ins = tuple(name_b if i == layer else i for i in n.inputs)
                nodes.append(n if ins == n.inputs else Node(n.name, n.op, ins, n.attrs))
        new.nodes = nodes
        try:
            new.check()
        except ValueError as e:
            raise ModelError(f"layer {layer}: the factorized graph is not well formed: {e}") from None
    return new


# ----------------------------------------------------------------- the registered transform
from .registry import TRANSFORMS, Transform  # noqa: E402


class LowRankTransform(Transform):
    """``structure = "lowrank"``: every fc layer factorized at the rank of ``layer_rank``, else the
    smallest rank keeping ``lowrank_energy`` of its squared singular values (a layer the
    factorization would not make smaller is left whole, with a note)."""

    def apply(self, net, cfg, log=print):
        out = net
        for s in net.specs:
            if s.kind is not LayerKind.FC:
                if s.name in cfg.layer_rank:
                    raise ModelError(f"structure = 'lowrank' does not apply to layer {s.name}: it is a conv "
                                     "layer (the factorization is for fc layers)")
                continue
            W = out.params[s.name].reshape(s.n_out, -1)
            n_out, n_in = W.shape
            if s.name in cfg.layer_rank:
                r = cfg.layer_rank[s.name]
                if r > min(n_out, n_in):
                    raise ModelError(f"[compress.layer_rank] {s.name} = {r}: the layer is {n_out} x {n_in}; "
                                     f"give a rank in 1..{min(n_out, n_in)}")
            else:
                r = rank_for_energy(W, cfg.lowrank_energy)
                if r * (n_in + n_out) >= n_in * n_out:
                    log(f"lowrank: layer {s.name} left whole (rank {r} keeps {100 * cfg.lowrank_energy:g}% of "
                        f"the energy but {r * (n_in + n_out):,} weights >= {n_in * n_out:,})")
                    continue
            out = factorize_fc(out, s.name, r)
        return out


TRANSFORMS.register("lowrank", LowRankTransform())
