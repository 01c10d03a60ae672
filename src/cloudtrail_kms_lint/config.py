"""The configuration file: ``[tool.cloudtrail-kms-lint]`` in pyproject.toml, or ``.cloudtrail-kms-lint.toml``.

Discovery (unless ``--config FILE`` names one, or ``--no-config``): the
current directory, then each parent, up to the filesystem root or the first
directory that has a ``.git``. In each directory ``.cloudtrail-kms-lint.toml``
is taken before ``pyproject.toml``; a pyproject.toml without a
``[tool.cloudtrail-kms-lint]`` table is passed over. The first file found is
the configuration (files are not merged).

TOML is read with ``tomllib`` (Python 3.11+) or, on 3.10, the ``tomli``
package when it is installed; without either, a configuration file is an error
(and no configuration file is no problem).

Relative paths in the file (``var-files``) and the patterns of
``per-path-ignores`` are relative to the file's directory; ``exclude``
patterns work like ``--exclude``. See docs/configuration.md.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from . import catalogue

DEDICATED_FILE = ".cloudtrail-kms-lint.toml"
PYPROJECT = "pyproject.toml"
TABLE = "cloudtrail-kms-lint"
FAIL_ON_LEVELS = (catalogue.ERROR, catalogue.WARNING)

KEYS = ("select", "ignore", "per-path-ignores", "strict", "fail-on", "exclude", "var-files", "vars", "parameters",
        "accounts", "limits")

# a [tool.cloudtrail-kms-lint] table (or a sub-table, or a dotted key) in pyproject.toml
_PYPROJECT_TABLE = re.compile(
    r"""^[ \t]*(?:\[[ \t]*tool[ \t]*\.[ \t]*["']?cloudtrail-kms-lint["']?[ \t]*[\].]"""
    r"""|tool[ \t]*\.[ \t]*["']?cloudtrail-kms-lint["']?[ \t]*[.=])""",
    re.MULTILINE,
)
_ACCOUNT = re.compile(r"^\d{12}$")


class ConfigError(Exception):
    """A configuration file that cannot be used; the message names the file (and the key)."""


@dataclass
class Config:
    """A parsed configuration. ``None``/empty means "not set" (the default, or the command line, applies)."""

    path: Optional[str] = None  # the file it came from
    select: Optional[list[str]] = None  # canonical rule ids
    ignore: list[str] = field(default_factory=list)
    per_path_ignores: dict[str, list[str]] = field(default_factory=dict)
    strict: Optional[bool] = None
    fail_on: Optional[str] = None
    exclude: list[str] = field(default_factory=list)
    var_files: list[str] = field(default_factory=list)  # resolved against the file's directory
    vars: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    accounts: list[str] = field(default_factory=list)
    limits: dict = field(default_factory=dict)  # limits.Limits names -> values (docs/security.md)

    @property
    def directory(self) -> Optional[str]:
        return os.path.dirname(os.path.abspath(self.path)) if self.path else None


def toml_module():
    """tomllib, else tomli, else None."""
    try:
        import tomllib  # type: ignore[import-not-found]  # Python 3.11+
        return tomllib
    except ImportError:
        pass
    try:
        import tomli  # type: ignore[import-not-found]
        return tomli
    except ImportError:
        return None


def _display(path: str) -> str:
    from .discovery import display_path

    return display_path(path)


def _has_table(path: str) -> bool:
    """Whether a pyproject.toml has a [tool.cloudtrail-kms-lint] table (decided without a TOML parser)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return bool(_PYPROJECT_TABLE.search(fh.read()))
    except OSError:
        return False


def find_config(start: Optional[str] = None) -> Optional[str]:
    """The configuration file for ``start`` (default: the working directory), or None."""
    d = os.path.abspath(start or os.getcwd())
    while True:
        dedicated = os.path.join(d, DEDICATED_FILE)
        if os.path.isfile(dedicated):
            return dedicated
        pyproject = os.path.join(d, PYPROJECT)
        if os.path.isfile(pyproject) and _has_table(pyproject):
            return pyproject
        parent = os.path.dirname(d)
        if os.path.exists(os.path.join(d, ".git")) or parent == d:
            return None
        d = parent


def _read_toml(path: str) -> dict:
    toml = toml_module()
    shown = _display(path)
    if toml is None:
        raise ConfigError(f"{shown}: reading the configuration needs Python 3.11 or later, or the 'tomli' package "
                          "on Python 3.10 (pip install tomli)")
    try:
        with open(path, "rb") as fh:
            return toml.load(fh)
    except OSError as e:
        raise ConfigError(f"{shown}: cannot read the configuration: {e.strerror or e}") from None
    except ValueError as e:  # tomllib.TOMLDecodeError is a ValueError; its message has the line and column
        raise ConfigError(f"{shown}: cannot parse the configuration: {e}") from None


def load_config(path: str) -> Config:
    """Read and check one configuration file (pyproject.toml: its [tool.cloudtrail-kms-lint] table)."""
    shown = _display(path)
    if not os.path.isfile(path):
        raise ConfigError(f"{shown}: no such configuration file")
    doc = _read_toml(path)
    if os.path.basename(path) == PYPROJECT:
        tool = doc.get("tool")
        table = tool.get(TABLE) if isinstance(tool, dict) else None
        if table is None:
            raise ConfigError(f"{shown}: has no [tool.{TABLE}] table")
        where = f"[tool.{TABLE}]"
    else:
        table = doc
        where = "the configuration"
    if not isinstance(table, dict):
        raise ConfigError(f"{shown}: [tool.{TABLE}] must be a table")
    return parse_table(table, path, where)


def _err(path: str, key: str, message: str) -> ConfigError:
    return ConfigError(f"{_display(path)}: '{key}': {message}")


def _string_list(path: str, key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _err(path, key, "must be a list of strings")
    return list(value)


def _rules(path: str, key: str, value: Any) -> list[str]:
    out: list[str] = []
    for raw in _string_list(path, key, value):
        try:
            rule = catalogue.get(raw).id
        except KeyError:
            raise _err(path, key, f"unknown rule id '{raw}' (see 'cloudtrail-kms-lint rules')") from None
        if rule not in out:
            out.append(rule)
    return out


def _scalar_table(path: str, key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _err(path, key, "must be a table of NAME = value")
    out: dict[str, str] = {}
    for name, v in value.items():
        if isinstance(v, bool):
            out[str(name)] = "true" if v else "false"
        elif isinstance(v, (str, int, float)):
            out[str(name)] = str(v)
        else:
            raise _err(path, f"{key}.{name}", "must be a string, number or boolean (pass structured Terraform "
                                               "values in a var-files file)")
    return out


def parse_table(table: dict, path: str, where: str = "the configuration") -> Config:
    """Check the keys and values of a configuration table; ``path`` names the file in errors."""
    cfg = Config(path=path)
    base = os.path.dirname(os.path.abspath(path))
    for key, value in table.items():
        if key not in KEYS:
            import difflib

            hint = difflib.get_close_matches(str(key).replace("_", "-"), KEYS, n=1)
            more = f"; did you mean '{hint[0]}'?" if hint else f"; the keys are: {', '.join(KEYS)}"
            raise ConfigError(f"{_display(path)}: unknown key '{key}' in {where}{more}")
        if key == "select":
            cfg.select = _rules(path, key, value)
        elif key == "ignore":
            cfg.ignore = _rules(path, key, value)
        elif key == "per-path-ignores":
            if not isinstance(value, dict):
                raise _err(path, key, "must be a table of \"PATTERN\" = [rule ids]")
            cfg.per_path_ignores = {str(p): _rules(path, f"{key}.{p}", rs) for p, rs in value.items()}
        elif key == "strict":
            if not isinstance(value, bool):
                raise _err(path, key, "must be true or false")
            cfg.strict = value
        elif key == "fail-on":
            if value not in FAIL_ON_LEVELS:
                raise _err(path, key, f"must be one of {', '.join(repr(v) for v in FAIL_ON_LEVELS)}")
            cfg.fail_on = value
        elif key == "exclude":
            cfg.exclude = _string_list(path, key, value)
        elif key == "var-files":
            cfg.var_files = [os.path.normpath(os.path.join(base, p)) for p in _string_list(path, key, value)]
        elif key == "vars":
            cfg.vars = _scalar_table(path, key, value)
        elif key == "parameters":
            cfg.parameters = _scalar_table(path, key, value)
        elif key == "accounts":
            accounts = [str(a) for a in value] if isinstance(value, list) and all(
                isinstance(a, (str, int)) and not isinstance(a, bool) for a in value) else None
            if accounts is None:
                raise _err(path, key, "must be a list of 12-digit AWS account ids (as strings)")
            for a in accounts:
                if not _ACCOUNT.match(a):
                    raise _err(path, key, f"'{a}' is not a 12-digit AWS account id")
            cfg.accounts = list(dict.fromkeys(accounts))
        elif key == "limits":
            from .limits import from_mapping

            if not isinstance(value, dict):
                raise _err(path, key, "must be a table of limit names and numbers (see docs/security.md)")
            try:
                from_mapping(value)
            except ValueError as e:
                raise _err(path, key, str(e))
            cfg.limits = dict(value)
    return cfg


def resolve(config_file: Optional[str], no_config: bool = False, start: Optional[str] = None) -> Config:
    """The configuration in effect: ``config_file`` if given, else the one found from ``start``, else empty."""
    if config_file:
        return load_config(config_file)
    if no_config:
        return Config()
    found = find_config(start)
    return load_config(found) if found else Config()


__all__ = ["Config", "ConfigError", "KEYS", "find_config", "load_config", "parse_table", "resolve", "toml_module"]
