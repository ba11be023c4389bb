"""A toy quantizer, written only to show that the method seam holds: every nonzero weight of a
layer becomes +s or -s with one scale s = mean |w| per layer (a 1-bit sign; code 0 stays the
pruned zero, so the codebook has 2 bits). Loaded as a plugin (``DCSIM_PLUGINS``); no library
file knows about it."""
from __future__ import annotations

import numpy as np

from compress.methods import QUANTIZERS, Quantizer


class SignQuantizer(Quantizer):
    finetune = False

    def bits_for(self, cfg, layer, kind):
        return 2                      # 0 (pruned), +s, -s

    def share(self, values, bits, cfg):
        scale = float(np.mean(np.abs(values)))
        centroids = np.zeros(1 << bits, dtype=np.float32)
        centroids[1], centroids[2] = scale, -scale
        return np.where(values > 0, 1, 2), centroids


QUANTIZERS.register("sign", SignQuantizer(), replace=True)
