"""The base class of every error a user's input can cause.

A bad file, config value, flag, model or archive raises a subclass of
:class:`DcsimError` whose message is one line naming the value or file and what is
allowed. The command line maps this one class to that line on stderr and exit code 2
(dcsim/cli.py); anything else that escapes is a bug.
"""
from __future__ import annotations

__all__ = ["DcsimError", "ModelError"]


class DcsimError(Exception):
    """Something the user gave is wrong. The message is one line naming it and what is allowed."""


class ModelError(DcsimError, ValueError):
    """A model (a weights file, a network, an archive's layers) that dcsim cannot take as it is."""
