"""ldnsim: the pharmacology of low-dose naltrexone as ODE models, with a numba stiff solver."""
__version__ = "0.1.0"

from .errors import ConfigError, LdnsimError, ModelError, RegimenError, SolverError  # noqa: F401
