"""Playbook files: load and validate the YAML of one or many playbooks.

The format is :mod:`pipeline.sops.model`'s; errors are one line naming the file, the step
and the problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from pipeline.errors import SopError
from pipeline.sops.model import Sop, parse_sop


def load_sop(path: str | Path) -> Sop:
    """Load and validate one playbook YAML file.

    Raises
    ------
    SopError
        The file is unreadable, not YAML, or not a valid playbook.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SopError(f"{path}: cannot read ({exc})") from None
    except yaml.YAMLError as exc:
        raise SopError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse_sop(data, origin=str(path))


def load_sops(paths: Iterable[str | Path]) -> list[Sop]:
    """Load playbooks from files and folders (``*.yaml``/``*.yml``, sorted).

    Raises
    ------
    SopError
        A file is invalid, or two files hold the same (sop_id, version).
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        else:
            files.append(path)
    sops: list[Sop] = []
    origins: dict[tuple[str, int], Path] = {}
    for file in files:
        sop = load_sop(file)
        key = (sop.sop_id, sop.version)
        if key in origins:
            raise SopError(_duplicate(file, sop, origins[key]))
        origins[key] = file
        sops.append(sop)
    return sops


def validate_sop_files(paths: Iterable[str | Path]) -> list[str]:
    """Validate each file; return one error line per bad file (empty when all are valid).

    A file that repeats the (sop_id, version) of an earlier one is bad too.
    """
    errors = []
    origins: dict[tuple[str, int], Path] = {}
    for path in map(Path, paths):
        try:
            sop = load_sop(path)
        except SopError as exc:
            errors.append(str(exc))
            continue
        key = (sop.sop_id, sop.version)
        if key in origins:
            errors.append(_duplicate(path, sop, origins[key]))
        origins.setdefault(key, path)
    return errors


def _duplicate(path: Path, sop: Sop, first: Path) -> str:
    return (
        f"{path}: sop {sop.sop_id} version {sop.version} is also defined in {first}; "
        "bump the version or remove one"
    )
