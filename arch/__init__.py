"""arch: the contracts every part of dcsim shares (numpy only).

- ``AcceleratorConfig``: the machine;
- ``encoding``: the EIE weight-stream format (interleaved CSC per PE).
"""
from .config import AcceleratorConfig
from .configio import ConfigError
from .encoding import (EIEStreams, EncodingError, PEStream, check_capacity, decode_layer, encode_layer,
                       pack_words, unpack_words)

__all__ = ["AcceleratorConfig", "ConfigError", "EIEStreams", "EncodingError", "PEStream", "check_capacity",
           "decode_layer", "encode_layer", "pack_words", "unpack_words"]
