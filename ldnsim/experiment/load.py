"""Loading an experiment: read the source, validate the schema, resolve against the model."""
from __future__ import annotations

from pydantic import ValidationError

from ldnsim.errors import ConfigError

from .messages import config_error
from .resolve import Experiment
from .resolve import resolve as _resolve
from .schema import SECTIONS, ExperimentConfig
from .source import read_source

__all__ = ["load_experiment"]


def load_experiment(source, *, resolve: bool = True) -> Experiment:
    """Read and validate an experiment.

    Parameters
    ----------
    source : str, os.PathLike, Mapping or Experiment
        A path to a ``.toml`` file, the name of a shipped experiment, TOML text (a string
        with a newline, or with ``=`` or ``[`` that is not an existing file), or the parsed
        dict.
    resolve : bool
        Also load the model, check every name against it and plan the sweep (rows, parameter
        matrix, population draws). False checks the file's own structure only.

    Returns
    -------
    Experiment

    Raises
    ------
    ConfigError
        One message naming the file, the key and what was expected.
    """
    if isinstance(source, Experiment):
        return _resolve(source) if resolve and source.plan is None else source
    raw, text, path, where = read_source(source)
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise config_error(where, exc, raw, SECTIONS) from None
    except RecursionError:
        raise ConfigError(f"{where}: the configuration is nested too deeply") from None
    name = config.experiment.name or (path.stem if path is not None else "experiment")
    exp = Experiment(config=config, name=name, text=text, path=path, where=where, raw=raw)
    return _resolve(exp) if resolve else exp
