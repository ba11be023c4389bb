"""arch: the contracts every part of dcsim shares, and the seams where new parts plug in.

- :mod:`.config`: ``AcceleratorConfig`` (the EIE machine) and the constants its parts share:
  the pipeline depth, the access-count components, the technology nodes;
- :mod:`.fixedpoint`: the fixed-point arithmetic contract the reference, the engine and the
  RTL implement bit for bit;
- :mod:`.encoding`: the EIE weight-stream format (interleaved CSC per PE) and ``StreamFormat``;
- :mod:`.tiling`: output passes, input batches and the capacity checks of a layer on EIE;
- :mod:`.machine`: the machine interface and the registry ``[accel] kind`` selects from;
- :mod:`.registry`: named registries and plugin loading (``$DCSIM_PLUGINS``);
- :mod:`.configio`, :mod:`.fileio`, :mod:`.errors`: config plumbing, atomic writes and the one
  TOML and array readers, and ``DcsimError``, the base of every error a user's input can cause.

May import numpy only (the registries import the modules that register into them by name).
"""
from .config import AcceleratorConfig
from .configio import ConfigError
from .encoding import (EIEStreams, EncodingError, PEStream, StreamFormat, check_capacity, decode_layer, encode_layer,
                       pack_words, unpack_words)
from .errors import DcsimError

__all__ = ["AcceleratorConfig", "ConfigError", "DcsimError", "EIEStreams", "EncodingError", "PEStream", "StreamFormat",
           "check_capacity", "decode_layer", "encode_layer", "pack_words", "unpack_words"]
