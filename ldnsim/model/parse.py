"""Read TOML model files into `Model` objects; find shipped models.

This module checks the *shape* of the file (sections, keys, which entries are tables or
strings); `ldnsim.model.validate` checks the meaning once the `Model` is built.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path

from ldnsim._files import shipped_dirs
from ldnsim._text import SHIPPED_NAME, suggest
from ldnsim._version import __version__
from ldnsim.errors import ModelError
from ldnsim.model.spec import Definition, Input, Model, Ode, Output, Parameter, Scenario, State

__all__ = ["load_model", "loads_model", "list_models", "shipped_model_dirs"]

MAX_FILE_BYTES = 1_000_000
"""Model files are hand-written text; anything bigger is a mistake (or an attack)."""

_SECTIONS = ("model", "states", "parameters", "inputs", "definitions", "odes", "outputs",
             "scenarios")
_REQUIRED_SECTIONS = ("model", "states", "odes")
# section -> (required keys, optional keys) of each entry
_ENTRY_KEYS = {
    "states": (("init", "unit"), ("description",)),
    "parameters": (("value", "unit"), ("description", "source", "evidence", "lower",
                                       "upper")),
    "inputs": (("unit",), ("description", "target")),
    "definitions": (("expr",), ("unit", "description")),
    "outputs": (("expr", "unit"), ("description",)),
}
_MODEL_KEYS = (("name", "time_unit"), ("description", "dose_target", "check_units"))


def _err(loc, section, key, msg):
    key_part = f" {key}" if key is not None else ""
    raise ModelError(f"{loc}: [{section}]{key_part}: {msg}")


def _check_keys(loc, section, key, table, required, optional):
    allowed = (*required, *optional)
    for k in table:
        if k not in allowed:
            _err(loc, section, key, f"unknown key {k!r}{suggest(k, allowed)}; allowed keys: "
                 f"{', '.join(allowed)}")
    for k in required:
        if k not in table:
            _err(loc, section, key, f"missing required key {k!r}")


def _table(loc, section, key, value):
    if not isinstance(value, dict):
        where = f"[{section}] {key}" if key else f"[{section}]"
        raise ModelError(f"{loc}: {where}: expected a table such as "
                         "{ key = value, ... }, got " + repr(value)[:80])
    return value


def loads_model(text, path=None):
    """Build a `Model` from TOML text.

    Parameters
    ----------
    text : str
        The file content.
    path : str, optional
        Shown in error messages and stored as ``Model.path``.

    Returns
    -------
    Model

    Raises
    ------
    ModelError
        For TOML syntax errors (with line and column) and any invalid content.
    """
    loc = str(path) if path is not None else "<model text>"
    doc = _read_toml(loc, text)
    head = _table(loc, "model", None, doc["model"])
    _check_keys(loc, "model", None, head, *_MODEL_KEYS)
    entries = _entries(loc, doc)
    odes = []
    for key, value in _table(loc, "odes", None, doc["odes"]).items():
        if not isinstance(value, str):
            _err(loc, "odes", key, "expected the right-hand side as a string, e.g. "
                 f"{key} = \"-k * {key}\"")
        odes.append(Ode(key, value))
    scenarios = _scenarios(loc, doc)
    digest = hashlib.sha256((text + "\0" + __version__).encode()).hexdigest()
    return Model(
        name=head["name"], description=head.get("description", ""),
        time_unit=head["time_unit"], dose_target=head.get("dose_target"),
        check_units=head.get("check_units", True),
        path=str(path) if path is not None else None, hash=digest,
        states=[State(k, v["init"], v["unit"], v.get("description", ""))
                for k, v in entries["states"]],
        parameters=[Parameter(k, v["value"], v["unit"], v.get("description", ""),
                              v.get("source", ""), v.get("evidence", ""), v.get("lower"),
                              v.get("upper")) for k, v in entries["parameters"]],
        inputs=[Input(k, v["unit"], v.get("description", ""), v.get("target"))
                for k, v in entries["inputs"]],
        definitions=[Definition(k, v["expr"], v.get("unit"), v.get("description", ""))
                     for k, v in entries["definitions"]],
        odes=odes,
        outputs=[Output(k, v["expr"], v["unit"], v.get("description", ""))
                 for k, v in entries["outputs"]],
        scenarios=scenarios,
    )


def _read_toml(loc, text):
    """The TOML document of ``text``, with only known sections and every required one."""
    if len(text) > MAX_FILE_BYTES:
        raise ModelError(f"{loc}: file is larger than {MAX_FILE_BYTES} bytes; "
                         "is this really a model file?")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{loc}: TOML syntax error: {exc}; check quotes, '=' and brackets "
                         "near that line") from None
    except (RecursionError, MemoryError):
        raise ModelError(f"{loc}: TOML could not be parsed: it is nested too deeply") from None
    for section in doc:
        if section not in _SECTIONS:
            raise ModelError(f"{loc}: unknown section [{section}]{suggest(section, _SECTIONS)}"
                             f"; allowed sections: {', '.join(_SECTIONS)}")
    for section in _REQUIRED_SECTIONS:
        if section not in doc:
            raise ModelError(f"{loc}: missing section [{section}]")
    return doc


def _entries(loc, doc):
    """Section -> [(key, table)] for the sections of ``_ENTRY_KEYS``, keys checked."""
    entries = {}
    for section, (required, optional) in _ENTRY_KEYS.items():
        entries[section] = []
        for key, value in _table(loc, section, None, doc.get(section, {})).items():
            if section == "definitions" and isinstance(value, str):
                value = {"expr": value}  # the short form C = "central / V"
            _check_keys(loc, section, key, _table(loc, section, key, value), required, optional)
            entries[section].append((key, value))
    return entries


def _scenarios(loc, doc):
    """Scenario name -> :class:`Scenario` of the ``[scenarios]`` section."""
    scenarios = {}
    for name, table in _table(loc, "scenarios", None, doc.get("scenarios", {})).items():
        table = _table(loc, f"scenarios.{name}", None, table)
        # description and source are text; a number under either name sets a parameter so
        # named (a model may call a parameter "source")
        meta = {k: v for k, v in table.items()
                if k in ("description", "source") and isinstance(v, str)}
        values = {k: v for k, v in table.items() if k not in meta}
        scenarios[name] = Scenario(name, meta.get("description", ""), values,
                                   meta.get("source", ""))
    return scenarios


def shipped_model_dirs():
    """Directories holding shipped models: the wheel's copy, then a source checkout's."""
    return shipped_dirs("models")


def list_models():
    """The shipped models.

    Returns
    -------
    list of str
        Sorted names, usable with :func:`load_model`.
    """
    return sorted({p.stem for d in shipped_model_dirs() for p in d.glob("*.toml")})


def load_model(name_or_path):
    """Load a model: a shipped model by name, or a TOML file by path.

    Parameters
    ----------
    name_or_path : str, os.PathLike or Model
        ``"one_compartment_oral"`` (shipped), ``"my/model.toml"`` (a file), or a `Model`
        (returned as is).

    Returns
    -------
    Model

    Raises
    ------
    ModelError
        If the name is not shipped, the file cannot be read, or its content is invalid.
    """
    if isinstance(name_or_path, Model):
        return name_or_path
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ModelError(f"load_model expects a model name or a path (or a Model), got "
                         f"{type(name_or_path).__name__}")
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, str) and SHIPPED_NAME.match(text):
        for d in shipped_model_dirs():
            candidate = d / f"{text}.toml"
            if candidate.is_file():
                model = _read(candidate)
                if model.name != text:  # a shipped model is found by its file name
                    raise ModelError(f"{candidate}: [model] name is {model.name!r}, but a "
                                     f"shipped model is looked up by its file name: name it "
                                     f"{text!r} or rename the file to {model.name}.toml")
                return model
        if not Path(text).is_file():
            raise ModelError(f"no shipped model named {text!r}{suggest(text, list_models())};"
                             f" shipped models: {', '.join(list_models()) or 'none'}; "
                             "or pass the path of a .toml file")
    return _read(Path(text))


def _read(path):
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ModelError(f"{path}: file is {size} bytes, larger than {MAX_FILE_BYTES}; "
                             "is this really a model file?")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except (IsADirectoryError, PermissionError, OSError) as exc:
        raise ModelError(f"{path}: cannot read model file ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path}: file is not UTF-8 text (byte {exc.start}); save it as "
                         "UTF-8") from None
    return loads_model(text, path)
