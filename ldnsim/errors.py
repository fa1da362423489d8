"""One exception hierarchy for ldnsim (every error a user can meet subclasses LdnsimError)."""
from __future__ import annotations


class LdnsimError(Exception):
    """Base class of every error ldnsim raises on purpose."""


class SolverError(LdnsimError):
    """The ODE solver failed; the message says why and what to try."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ModelError(LdnsimError):
    """A model file or model object is invalid; the message names file, section, key."""


class RegimenError(LdnsimError):
    """A dosing regimen makes no sense (negative amount, bad target, ...)."""


class ConfigError(LdnsimError):
    """An experiment configuration is invalid; the message names file, key, expected value."""
