"""Small test models built in PyTorch and exported to ONNX (shared by the importer, simulator and CLI tests)."""
from __future__ import annotations

import io
import warnings

import numpy as np


def export(module, input_shape, opset: int = 20) -> bytes:
    """ONNX bytes of ``module`` for one sample of ``input_shape`` (static shapes, eval mode)."""
    import torch

    module.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros((1,) + tuple(input_shape)),), buf, dynamo=False,
                          input_names=["input"], output_names=["output"], opset_version=opset)
    return buf.getvalue()


def onnxruntime_forward(data: bytes, x: np.ndarray) -> np.ndarray:
    """The golden output: onnxruntime on each sample of ``x`` (the export fixes batch 1)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[i:i + 1].astype(np.float32)})[0] for i in range(len(x))])


def _randomize_bn(m, seed=0):
    import torch

    g = torch.Generator().manual_seed(seed)
    for bn in m.modules():
        if isinstance(bn, torch.nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                bn.weight.copy_(0.5 + torch.rand(bn.weight.shape, generator=g))
                bn.bias.copy_(torch.rand(bn.bias.shape, generator=g) - 0.5)
                bn.running_mean.copy_(torch.rand(bn.running_mean.shape, generator=g) * 0.2 - 0.1)
                bn.running_var.copy_(0.5 + torch.rand(bn.running_var.shape, generator=g))


def small_cnn(seed: int = 0):
    """The user's CNN: two padded 3x3 convs with ReLU and 2x2 max-pooling, flatten, two FC layers."""
    import torch
    import torch.nn as nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 7 * 7, 32), nn.ReLU(), nn.Linear(32, 10))


def zoo_cnn(seed: int = 0):
    """Every supported CNN operator: BatchNorm (folded), strided / dilated / grouped / padded convs,
    residual add, max / average (padded) / global average pooling, Clip, Sigmoid, Tanh, GELU,
    Flatten, Gemm, LogSoftmax."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Zoo(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 8, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(8)
            self.grouped = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4)
            self.down = nn.Conv2d(8, 12, 3, stride=2, padding=1)
            self.proj = nn.Conv2d(12, 12, 1)
            self.fc1 = nn.Linear(12, 24)
            self.bn1 = nn.BatchNorm1d(24)
            self.fc2 = nn.Linear(24, 10)

        def forward(self, x):
            h = F.relu(self.bn(self.stem(x)))
            h = h + torch.sigmoid(self.grouped(h))            # residual add
            h = F.max_pool2d(h, 2)
            h = F.avg_pool2d(h, 3, stride=1, padding=1, count_include_pad=False)
            h = torch.clamp(self.down(h), -1.0, 2.0)
            h = torch.tanh(self.proj(h))
            h = F.adaptive_avg_pool2d(h, 1).flatten(1)         # GlobalAveragePool + Flatten
            h = F.gelu(self.bn1(self.fc1(h)))
            return F.log_softmax(self.fc2(h), dim=1)

    torch.manual_seed(seed)
    m = Zoo()
    _randomize_bn(m, seed)
    return m.eval()


def transformer_block(d: int = 16, tokens: int = 6, seed: int = 0):
    """A transformer block's FC layers (Q, K, V, output, two FFN layers) on (tokens, d) inputs, with
    single-head attention (scaled Q K^T, softmax, times V) and GELU, residual adds."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
            self.ff1, self.ff2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):                                  # (B, T, d)
            att = torch.softmax(self.q(x) @ self.k(x).transpose(1, 2) / float(d) ** 0.5, dim=-1)
            h = x + self.o(att @ self.v(x))
            return h + self.ff2(F.gelu(self.ff1(h)))

    torch.manual_seed(seed)
    return Block().eval()


def mlp_block(d: int = 16, tokens: int = 4, seed: int = 0):
    """A transformer-style MLP block alone: per-token FC, GELU, FC, residual add."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):
            return x + self.fc2(F.gelu(self.fc1(x)))

    torch.manual_seed(seed)
    return MLP().eval()


def train_quickly(model, x: np.ndarray, y: np.ndarray, epochs: int = 1, lr: float = 0.05, seed: int = 0,
                  batch: int = 32):
    """A few seconds of SGD on one thread (the tests' "trained" CNN)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))
        model.train()
        for _ in range(epochs):
            for i in range(0, len(xt), batch):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(xt[i:i + batch]), yt[i:i + batch]).backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()
