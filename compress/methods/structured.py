"""Structured pruning: transforms that remove whole filters, channels or neurons, so layers shrink.

Pure numpy network surgery (no training); every transform returns a NEW
:class:`~network.graph.Network` and leaves its input untouched.

- :func:`prune_neurons`: the surgery primitive. Keep only some output rows (fc) or filters
  (conv) of a layer and drop the matching input columns / channels of every layer that
  consumes it.
- :func:`l1_filter_prune`: L1-norm filter pruning, Li, Kadav, Durdanovic, Samet and Graf,
  "Pruning Filters for Efficient ConvNets", ICLR 2017: rank a layer's filters (neurons) by the
  L1 norm of their weights and remove the smallest.
- :func:`neuron_merge`: data-free neuron merging, Srinivas and Babu, "Data-free parameter
  pruning for Deep Neural Networks", BMVC 2015.
- :func:`group_lasso_penalty`: the group-lasso regulariser of Structured Sparsity Learning, Wen,
  Wu, Wang, Chen and Li, "Learning Structured Sparsity in Deep Neural Networks", NIPS 2016
  (a torch function for a training loop; the training itself is elsewhere).

How the result runs on EIE: a shrunken layer is just a smaller layer. Its matrix has fewer
rows (fewer output activations, interleaved over the PEs as usual) and its consumer's matrix
fewer columns (fewer input activations to broadcast). Nothing changes in the machine or in the
storage format; the rest of the pipeline (magnitude pruning, weight sharing, encoding) applies
to the smaller matrices unchanged.

What the surgery supports: between the pruned layer and each of its consumers only operations
that act on each channel (feature) separately: ``relu``, ``clip``, ``sigmoid``, ``tanh``,
``gelu``, ``maxpool``, ``avgpool``, ``globalavgpool`` and ``flatten`` (a chain network's fused
ReLU and max-pool are of this kind). A conv layer's consumer may be a conv layer (it loses
input channels) or an fc layer after the flatten (it loses the block of ``H x W`` columns of
each removed channel: dcsim flattens channel-major, ``C x H x W``, as PyTorch does and as an fc
layer of a chain network reshapes its input). Refused with a one-line
:class:`~arch.errors.ModelError`: the network's output layer, a layer whose output reaches any
other operation (a residual ``add``, ``mul``, ``matmul``, ``reshape``, ``transpose``,
softmax), grouped convolutions (as the pruned layer or as a consumer) and a conv whose
output feeds a per-position (MatMul) fc layer.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, NamedTuple

import numpy as np

from arch.errors import ModelError
from network.graph import FLOAT, LayerKind, LayerSpec, Network, Node

__all__ = ["PASS_THROUGH_OPS", "Consumer", "consumers", "group_lasso_penalty", "l1_filter_prune", "l1_norms",
           "merge_plan", "neuron_merge", "prune_neurons"]

PASS_THROUGH_OPS = ("relu", "clip", "sigmoid", "tanh", "gelu", "maxpool", "avgpool", "globalavgpool", "flatten")
"""Host operations that act on each channel separately: a removed channel stays one removed channel."""


class Consumer(NamedTuple):
    """A weight layer that reads a layer's outputs: its name and how many of its input columns
    (fc) or kernel positions (conv: 1) one producer channel covers (``block``)."""

    name: str
    block: int


def _layer_node(net: Network, layer: str) -> tuple[LayerSpec, Node]:
    try:
        spec = net.spec(layer)
    except KeyError:
        raise ModelError(f"layer {layer!r} is not a weight layer of {net.name}; its layers are "
                         f"{', '.join(s.name for s in net.specs)}") from None
    node = next(n for n in net.graph if n.name == layer and n.op in ("fc", "conv"))
    return spec, node


def consumers(net: Network, layer: str) -> list[Consumer]:
    """The weight layers that consume ``layer``'s outputs and how its channels map to their inputs.

    Follows the graph from ``layer`` through :data:`PASS_THROUGH_OPS` only. Raises
    :class:`~arch.errors.ModelError` (one line, naming the layer) when the layer's outputs are
    the network's outputs, reach another operation, or cannot be mapped onto a consumer's inputs.
    """
    spec, node = _layer_node(net, layer)
    graph = net.graph
    readers: dict[str, list[Node]] = {}
    for n in graph:
        for i in n.inputs:
            readers.setdefault(i, []).append(n)
    output = graph[-1].name
    feeds_layer: set[str] = set()                  # tensors from which some weight layer is reachable
    for n in reversed(graph):
        if n.op in ("fc", "conv") or n.name in feeds_layer:
            feeds_layer.update(n.inputs)
    specs = {s.name: s for s in net.specs}
    C = spec.n_out
    found: list[Consumer] = []
    # depth-first over the tensors derived from the layer's output: (tensor, flattened?)
    stack, seen = [(layer, False)], set()
    while stack:
        t, flat = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        if t == output or t not in feeds_layer:
            what = "output layer" if t == layer else f"output layer (through {t!r})"
            raise ModelError(f"layer {layer} is the network's {what}: its outputs are the classes, "
                             "so its neurons cannot be removed")
        for r in readers.get(t, []):
            if r.op in ("fc", "conv"):
                c = specs[r.name]
                if c.kind is LayerKind.CONV:
                    if spec.kind is not LayerKind.CONV or flat:
                        raise ModelError(f"layer {layer}: consumer {r.name} is a conv layer reading a "
                                         "reshaped tensor; removing neurons is not supported for that layer")
                    if c.groups != 1:
                        raise ModelError(f"layer {layer}: consumer {r.name} is a grouped convolution "
                                         f"({c.groups} groups); removing filters is not supported for that layer")
                    if c.shape[1] != C:
                        raise ModelError(f"layer {layer}: consumer {r.name} takes {c.shape[1]} channels, "
                                         f"not the {C} filters of {layer}")
                    found.append(Consumer(r.name, 1))
                else:
                    if spec.kind is LayerKind.CONV and r.attrs.get("per_position"):
                        raise ModelError(f"layer {layer}: consumer {r.name} is a per-position fc layer over "
                                         "a conv output; removing filters is not supported for that layer")
                    if spec.kind is LayerKind.FC and c.fan_in != C:
                        raise ModelError(f"layer {layer}: consumer {r.name} takes {c.fan_in} inputs, not the "
                                         f"{C} neurons of {layer}; removing neurons is not supported for that layer")
                    if c.fan_in % C:
                        raise ModelError(f"layer {layer}: consumer {r.name} takes {c.fan_in} inputs, not a "
                                         f"multiple of the {C} filters of {layer}")
                    found.append(Consumer(r.name, c.fan_in // C))
            elif r.op in PASS_THROUGH_OPS:
                stack.append((r.name, flat or r.op == "flatten"))
            elif r.name not in feeds_layer:
                raise ModelError(f"layer {layer} is the network's output layer (through {r.name!r}): its "
                                 "outputs are the classes, so its neurons cannot be removed")
            else:
                what = "a residual add" if r.op == "add" else f"a {r.op!r} operation"
                raise ModelError(f"layer {layer}: its output reaches {what} (node {r.name!r}); removing its "
                                 "neurons is supported only when ReLU / pooling / flatten lead to weight layers, "
                                 "so it is not supported for that layer")
    if not found:
        raise ModelError(f"layer {layer}: no weight layer consumes its outputs; its neurons cannot be removed")
    return found


def _check_keep(keep, n: int, layer: str) -> np.ndarray:
    k = np.asarray(keep)
    if k.ndim != 1 or (k.size and not np.issubdtype(k.dtype, np.integer)):
        raise ValueError(f"layer {layer}: keep must be a 1-D array of integer indices")
    k = k.astype(np.int64)
    if k.size == 0:
        raise ValueError(f"layer {layer}: keep is empty; at least one neuron must stay")
    if np.any(np.diff(k) <= 0) or k[0] < 0 or k[-1] >= n:
        raise ValueError(f"layer {layer}: keep must be sorted, unique indices in 0..{n - 1}")
    return k


def prune_neurons(net: Network, layer: str, keep) -> Network:
    """A new network where ``layer`` keeps only its output neurons (fc rows) or filters (conv)
    ``keep`` (a sorted array of indices), with its bias entries, and every consumer loses the
    matching inputs: an fc consumer its columns (for a conv producer read through a flatten,
    the ``H x W`` columns of each removed channel, channel-major), a conv consumer its input
    channels. The surgery of structured pruning (Li et al., ICLR 2017; Wen et al., NIPS 2016).

    The transformed network computes exactly what the original computes once the removed
    neurons' outgoing weights are zero. On EIE the layer is a matrix with ``len(keep)`` rows
    and the consumer a matrix with fewer columns: smaller layers on the same machine.

    Raises :class:`~arch.errors.ModelError` for the output layer, a grouped convolution, and a
    layer whose outputs reach anything but weight layers through per-channel operations
    (see the module docstring); ValueError for a bad ``keep``.
    """
    spec, _ = _layer_node(net, layer)
    if spec.groups != 1:
        raise ModelError(f"layer {layer} is a grouped convolution ({spec.groups} groups); "
                         "removing its filters is not supported")
    cons = consumers(net, layer)
    k = _check_keep(keep, spec.n_out, layer)
    new = net.copy()
    new.params[layer] = np.ascontiguousarray(net.params[layer][k], dtype=FLOAT)
    new.params[layer + "_bias"] = np.ascontiguousarray(net.params[layer + "_bias"][k], dtype=FLOAT)
    shapes = {layer: (len(k),) + tuple(spec.shape[1:])}
    for c in cons:
        cs = net.spec(c.name)
        W = net.params[c.name]
        if cs.kind is LayerKind.CONV:
            W2 = W[:, k]
            shapes[c.name] = (cs.shape[0], len(k)) + tuple(cs.shape[2:])
        else:
            cols = (k[:, None] * c.block + np.arange(c.block)[None, :]).ravel()
            W2 = W[:, cols]
            shapes[c.name] = (cs.shape[0], len(cols))
        new.params[c.name] = np.ascontiguousarray(W2, dtype=FLOAT)
    new.specs = [dataclasses.replace(s, shape=shapes[s.name]) if s.name in shapes else s for s in net.specs]
    return new


# ------------------------------------------------------------ L1 filter pruning
def l1_norms(w: np.ndarray) -> np.ndarray:
    """The L1 norm of each output filter / neuron of a weight array (sum of |w| over all but axis 0)."""
    return np.abs(np.asarray(w, dtype=np.float64)).reshape(w.shape[0], -1).sum(axis=1)


def l1_filter_prune(net: Network, cfg_keep: Mapping[str, float], greedy: bool = True) -> Network:
    """L1-norm filter pruning (Li, Kadav, Durdanovic, Samet and Graf, "Pruning Filters for
    Efficient ConvNets", ICLR 2017).

    For each layer named in ``cfg_keep`` (in the network's layer order), keep the fraction
    ``cfg_keep[layer]`` (0 < f <= 1; ``max(1, round(f x n_out))`` filters) of its output filters
    (conv) or neurons (fc) with the largest sum of absolute kernel weights ``s_j = sum |F_j|``,
    and remove the rest with :func:`prune_neurons` (the consumer loses the matching channels).
    Ties keep the lower index.

    ``greedy`` (the paper's Sec. 3.2 "greedy" strategy, the default): a layer's norms are taken
    after the earlier layers were pruned, so the kernels that read removed feature maps no
    longer count. ``greedy=False`` is the paper's "independent" strategy: all norms come from
    the input network.

    On EIE the pruned layers are smaller matrices (fewer rows, and fewer columns in their
    consumers); no change to the machine. Returns a new network.
    """
    order = [s.name for s in net.specs if s.name in cfg_keep]
    unknown = sorted(set(cfg_keep) - set(order))
    if unknown:
        raise ModelError(f"l1_filter_prune: {', '.join(unknown)} not weight layers of {net.name}")
    norms0 = {n: l1_norms(net.params[n]) for n in order}
    out = net
    for name in order:
        f = float(cfg_keep[name])
        if not 0.0 < f <= 1.0:
            raise ValueError(f"layer {name}: keep fraction {f} is not in (0, 1]")
        s = l1_norms(out.params[name]) if greedy else norms0[name]
        n = len(s)
        n_keep = min(n, max(1, int(round(f * n))))
        if n_keep == n:
            continue
        order_desc = np.argsort(-s, kind="stable")   # largest first, ties by index
        keep = np.sort(order_desc[:n_keep])
        out = prune_neurons(out, name, keep)
    return out if out is not net else net.copy()


# --------------------------------------------------------------- neuron merging
def merge_plan(w_in: np.ndarray, a_out: np.ndarray, n_remove: int) -> list[tuple[int, int, float]]:
    """The merges of Srinivas and Babu (BMVC 2015), Sec. 3-4: ``[(i, j, saliency), ...]`` in
    order, each "remove neuron j and add its outgoing weights into neuron i".

    ``w_in`` (n, fan_in): each neuron's incoming weight vector ``W_i``; ``a_out`` (m, n): the
    outgoing weights, column j is ``a_j`` (the weights from neuron j to every next-layer neuron).
    Saliency of removing j into i: ``s_{i,j} = <a_j^2> ||eps_{i,j}||^2`` with
    ``eps_{i,j} = W_j - W_i`` and ``<a_j^2>`` the mean of ``a_j^2`` over the next-layer neurons.
    It bounds the expected squared change of the next layer's inputs: for ReLU (1-Lipschitz),
    ``(a_j (h(W_j.x) - h(W_i.x)))^2 <= a_j^2 ||eps_{i,j}||^2 ||x||^2``.
    Algorithm (the paper's): compute the matrix ``M[i, j] = s_{i,j}``, pick its minimum (i, j),
    delete neuron j, set ``a_i <- a_i + a_j``, drop row and column j and recompute column i
    (the saliencies of removing i, whose outgoing weights changed). Ties: the first in row-major
    order. Returns ``n_remove`` merges.
    """
    w = np.asarray(w_in, dtype=np.float64)
    a = np.array(a_out, dtype=np.float64)
    n = w.shape[0]
    if not 0 <= n_remove < n:
        raise ValueError(f"cannot remove {n_remove} of {n} neurons (at least one must stay)")
    sq = np.einsum("ij,ij->i", w, w)
    D = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (w @ w.T), 0.0)   # ||W_i - W_j||^2
    mean_a2 = np.mean(a * a, axis=0)
    M = D * mean_a2[None, :]
    alive = np.ones(n, dtype=bool)
    np.fill_diagonal(M, np.inf)
    plan = []
    for _ in range(n_remove):
        flat = int(np.argmin(M))
        i, j = divmod(flat, n)
        plan.append((i, j, float(M[i, j])))
        alive[j] = False
        a[:, i] += a[:, j]
        M[j, :] = np.inf
        M[:, j] = np.inf
        col = D[:, i] * float(np.mean(a[:, i] ** 2))
        col[~alive] = np.inf
        col[i] = np.inf
        M[:, i] = col
    return plan


def neuron_merge(net: Network, layer: str, n_remove_or_fraction) -> Network:
    """Data-free neuron merging (Srinivas and Babu, "Data-free parameter pruning for Deep Neural
    Networks", BMVC 2015) of an fc ``layer`` followed by a ReLU and fc layers.

    Two neurons i and j with equal incoming weights compute the same activation, so the next
    layer's input ``a_i h(W_i.x) + a_j h(W_j.x)`` equals ``(a_i + a_j) h(W_i.x)``: neuron j can
    be removed after adding its outgoing weights ``a_j`` into ``a_i``. For nearly equal weights
    the pairs are chosen by the smallest saliency ``s_{i,j} = <a_j^2> ||W_j - W_i||^2`` (the
    paper's Eq. for the bound on the change of the next layer's inputs; ``<a_j^2>`` is the mean
    of the squared outgoing weights of j), one pair at a time with the update of
    :func:`merge_plan`. The incoming vector includes the bias (dcsim's augmented ``[W | b]``
    row), so identical neurons merge exactly.

    ``n_remove_or_fraction``: an int is the number of neurons to remove; a float in [0, 1) the
    fraction of the layer's neurons (rounded). At least one neuron stays.

    On EIE the layer becomes a matrix with fewer rows and its consumer one with fewer columns
    (the merged columns summed): smaller layers, no change to the machine. Returns a new network.
    """
    spec, _ = _layer_node(net, layer)
    if spec.kind is not LayerKind.FC:
        raise ModelError(f"layer {layer} is a conv layer; neuron merging applies to fc layers")
    cons = consumers(net, layer)
    if not spec.relu and not any(n.op == "relu" and layer in n.inputs for n in net.graph):
        raise ModelError(f"layer {layer} is not followed by a ReLU; neuron merging needs one")
    n = spec.n_out
    if isinstance(n_remove_or_fraction, (float, np.floating)):
        f = float(n_remove_or_fraction)
        if not 0.0 <= f < 1.0:
            raise ValueError(f"layer {layer}: fraction to remove {f} is not in [0, 1)")
        n_remove = min(int(round(f * n)), n - 1)
    else:
        n_remove = int(n_remove_or_fraction)
    if not 0 <= n_remove < n:
        raise ValueError(f"layer {layer}: cannot remove {n_remove} of its {n} neurons (at least one must stay)")
    if any(c.block != 1 for c in cons):
        raise ModelError(f"layer {layer}: a consumer reads its outputs through a reshape; not supported")
    w_in = np.concatenate([net.params[layer].reshape(n, -1), net.params[layer + "_bias"][:, None]], axis=1)
    a_out = np.concatenate([net.params[c.name].reshape(-1, n) for c in cons], axis=0)
    plan = merge_plan(w_in, a_out, n_remove)
    merged = net.copy()
    alive = np.ones(n, dtype=bool)
    for c in cons:
        W = merged.params[c.name].astype(np.float64)
        for i, j, _ in plan:
            W[:, i] += W[:, j]
        merged.params[c.name] = W.astype(FLOAT)
    for _, j, _ in plan:
        alive[j] = False
    if n_remove == 0:
        return merged
    return prune_neurons(merged, layer, np.flatnonzero(alive))


# ------------------------------------------------------------------ group lasso
def group_lasso_penalty(weights_by_layer, filters: float = 1.0, channels: float = 1.0):
    """The group-lasso penalty of Structured Sparsity Learning (Wen, Wu, Wang, Chen and Li,
    "Learning Structured Sparsity in Deep Neural Networks", NIPS 2016, Eq. 2 with the
    filter-wise and channel-wise groups of Sec. 3.1).

    ``weights_by_layer``: a mapping from layer name to weight tensor (or an iterable of tensors),
    each (out, in) for fc or (out, in, kh, kw) for conv. Returns the scalar tensor

        filters  x sum_layers sum_o ||W[o, ...]||_2    (one group per output filter / neuron)
      + channels x sum_layers sum_c ||W[:, c, ...]||_2 (one group per input channel / column)

    Added to the training loss (times a coefficient), it drives whole filters and whole input
    channels to zero, which :func:`prune_neurons` then removes (a filter of zeros, or the filter
    whose channel its consumer no longer reads). Differentiable (the gradient of a zero group is
    0). For a grouped conv the channel groups are the weight's columns ``W[:, c]`` as stored
    (channel c of every group together). torch is imported lazily
    (:func:`network.torch_import.import_torch`).

    On EIE the penalty changes nothing by itself: it only trains the weights so that the
    structured transforms leave smaller layers.
    """
    from network.torch_import import import_torch

    torch = import_torch()
    ws = list(weights_by_layer.values()) if isinstance(weights_by_layer, Mapping) else list(weights_by_layer)
    total = None
    for w in ws:
        if w.dim() < 2:
            raise ValueError(f"group_lasso_penalty: a weight of shape {tuple(w.shape)} is not a layer's weight")
        per_filter = torch.linalg.vector_norm(w.reshape(w.shape[0], -1), dim=1).sum()
        per_channel = torch.linalg.vector_norm(w.transpose(0, 1).reshape(w.shape[1], -1), dim=1).sum()
        term = filters * per_filter + channels * per_channel
        total = term if total is None else total + term
    return total if total is not None else torch.zeros(())


# ----------------------------------------------------------------- the registered transforms
from .registry import TRANSFORMS, Transform  # noqa: E402


def _shrinkable(net: Network, cfg, method: str, log, fc_only: bool = False) -> list[str]:
    """The layers ``method`` shrinks: those with ``keep_for < 1``. A layer named in
    ``layer_keep`` that cannot shrink is an error naming the method, the layer and why; one that
    only inherits the default ``keep`` is left whole with a note (the output layer, for one)."""
    out = []
    for s in net.specs:
        if cfg.keep_for(s.name) >= 1.0:
            continue
        why = None
        if fc_only and s.kind is not LayerKind.FC:
            why = "it is a conv layer (neuron merging is for fc layers followed by a ReLU)"
        else:
            try:
                consumers(net, s.name)
            except ModelError as e:
                why = str(e)
        if why is None:
            out.append(s.name)
        elif s.name in cfg.layer_keep:
            raise ModelError(f"structure = {method!r} does not apply to layer {s.name}: {why}")
        else:
            log(f"{method}: layer {s.name} left whole ({why})")
    return out


class L1FilterTransform(Transform):
    """``structure = "l1_filter"``: :func:`l1_filter_prune` with ``keep`` / ``layer_keep``."""

    def apply(self, net, cfg, log=print):
        names = _shrinkable(net, cfg, "l1_filter", log)
        return l1_filter_prune(net, {n: cfg.keep_for(n) for n in names}) if names else net


class NeuronMergeTransform(Transform):
    """``structure = "neuron_merge"``: :func:`neuron_merge` of each fc layer down to ``keep_for(layer)``
    of its neurons."""

    def apply(self, net, cfg, log=print):
        out = net
        for name in _shrinkable(net, cfg, "neuron_merge", log, fc_only=True):
            n = out.spec(name).n_out
            n_remove = min(n - 1, int(round((1.0 - cfg.keep_for(name)) * n)))
            if n_remove > 0:
                try:
                    out = neuron_merge(out, name, n_remove)
                except ModelError as e:
                    if name in cfg.layer_keep:
                        raise ModelError(f"structure = 'neuron_merge' does not apply to layer {name}: {e}") from None
                    log(f"neuron_merge: layer {name} left whole ({e})")
        return out


TRANSFORMS.register("l1_filter", L1FilterTransform())
TRANSFORMS.register("neuron_merge", NeuronMergeTransform())
