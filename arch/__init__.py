"""arch: the contracts every part of dcsim shares (numpy only).

- ``AcceleratorConfig``: the machine;
- ``encoding``: the EIE weight-stream format (interleaved CSC per PE).
"""
from .config import AcceleratorConfig
from .configio import ConfigError

__all__ = ["AcceleratorConfig", "ConfigError"]
