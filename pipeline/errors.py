"""The error hierarchy: each subclasses a built-in so callers can catch broadly or narrowly.

Messages say what was expected, what was found, and the fix, in one line.
"""


class CxminerError(Exception):
    """Base class of every error cxminer raises on purpose."""


class ConfigError(CxminerError, ValueError):
    """A configuration file or value is wrong (names the key and what was expected)."""


def require_positive(section: str, settings: object, names: tuple[str, ...]) -> None:
    """Raise :class:`ConfigError` naming ``section.name`` unless each setting is >= 1."""
    for name in names:
        value = getattr(settings, name)
        if value < 1:
            raise ConfigError(f"{section}.{name}: expected a positive integer, found {value}")


def require_choice(key: str, value: object, allowed: tuple[object, ...]) -> None:
    """Raise :class:`ConfigError` naming ``key`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ConfigError(f"{key}: expected one of {'/'.join(map(str, allowed))}, found {value!r}")


class SchemaError(CxminerError, ValueError):
    """Data does not match the table or record contract."""


class InputError(CxminerError, OSError):
    """An input file cannot be opened or read at all."""


class StoreError(CxminerError, RuntimeError):
    """The DuckDB store cannot be opened or written."""


class StoreLockedError(StoreError):
    """Another process holds the single-writer lock of the database."""


class SopError(CxminerError, ValueError):
    """A playbook (SOP) file is invalid: names the file, the step and the problem."""


class LabelsError(CxminerError, ValueError):
    """A labels (ground truth) file is invalid."""


class ModelError(CxminerError, RuntimeError):
    """An embedding model cannot be found, loaded or exported (names the model and the fix)."""
