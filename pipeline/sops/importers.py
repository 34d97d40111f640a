"""``cxminer sop import``: convert a public procedure library into playbook YAML files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pipeline.errors import InputError
from pipeline.sops.abcd import read_abcd_sops
from pipeline.sops.model import Sop, save_sop
from pipeline.sops.star import read_star_sops

SOP_FORMATS = ("star", "abcd")


def read_sops(fmt: str, inputs: Sequence[Path]) -> list[Sop]:
    """Convert the inputs of a library format to playbooks.

    ``star``: task folders, task JSON files or the ``tasks/`` folder. ``abcd``:
    ``guidelines.json`` and ``kb.json`` (any order, told apart by content), optionally
    ``ontology.json``, or the folder holding them.

    Raises
    ------
    InputError
        Unknown format, or inputs that are missing or not of that format.
    """
    if fmt == "star":
        return read_star_sops([Path(p) for p in inputs])
    if fmt == "abcd":
        return read_abcd_sops(**_abcd_roles([Path(p) for p in inputs]))
    raise InputError(f"unknown SOP format {fmt!r}; expected one of {', '.join(SOP_FORMATS)}")


def import_sops(fmt: str, inputs: Sequence[Path], out_dir: Path) -> list[Path]:
    """Convert and write one ``<sop_id>.yaml`` per SOP into ``out_dir``; return the paths."""
    return [save_sop(sop, Path(out_dir) / f"{sop.sop_id}.yaml") for sop in read_sops(fmt, inputs)]


def _abcd_roles(inputs: list[Path]) -> dict[str, Path | None]:
    """Tell ABCD's files apart by content; ``ontology.json`` is also looked for beside kb."""
    files = [
        (f, not p.is_dir())
        for p in inputs
        for f in (sorted(p.glob("*.json")) if p.is_dir() else [p])
    ]
    roles: dict[str, Path | None] = {}
    for file, named in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{file}: cannot read as JSON ({exc})") from None
        role = _abcd_role(data)
        if role is None and not named:
            continue  # a folder may hold other ABCD files (the conversations)
        if role is None:
            raise InputError(f"{file}: not one of ABCD's guidelines.json, kb.json or ontology.json")
        if role in roles:
            raise InputError(f"{file}: a second ABCD {role}.json (first: {roles[role]})")
        roles[role] = file
    for role in ("guidelines", "kb"):
        if role not in roles:
            raise InputError(
                f"ABCD import needs {role}.json among the inputs "
                f"({', '.join(str(p) for p in inputs)})"
            )
    if "ontology" not in roles:
        kb = roles["kb"]
        sibling = kb.with_name("ontology.json") if kb else None
        roles["ontology"] = sibling if sibling and sibling.is_file() else None
    return roles


def _abcd_role(data: object) -> str | None:
    if not isinstance(data, dict) or not data:
        return None
    if "intents" in data and "actions" in data:
        return "ontology"
    if all(isinstance(v, list) and all(isinstance(a, str) for a in v) for v in data.values()):
        return "kb"
    if all(isinstance(v, dict) and "subflows" in v for v in data.values()):
        return "guidelines"
    return None
