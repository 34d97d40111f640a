"""SOPs: the playbooks conversations are checked against, and their approval-gate language.

A :class:`Sop` is an ordered set of :class:`Step` objects with an optional :class:`Risk`;
:func:`parse_sop` validates one from plain data (the YAML format of DESIGN.md) and
:func:`sop_to_dict`/:func:`sop_to_yaml` write it back. A gate step's ``when`` is a
condition of :mod:`pipeline.sops.gates` (:func:`parse_condition`), evaluated over
conversations as a polars expression (:func:`condition_expr`). Reading SOP files
(:mod:`pipeline.sops.files`), saving them (``save_sop``) and importing public procedure
libraries (:mod:`pipeline.sops.importers`) live in their modules; the package never
touches the store.
"""

from pipeline.sops.gates import (
    Comparison,
    Condition,
    Junction,
    condition_expr,
    condition_fields,
    parse_condition,
)
from pipeline.sops.model import Risk, Sop, Step, parse_sop, sop_to_dict, sop_to_yaml

__all__ = [
    "Comparison",
    "Condition",
    "Junction",
    "Risk",
    "Sop",
    "Step",
    "condition_expr",
    "condition_fields",
    "parse_condition",
    "parse_sop",
    "sop_to_dict",
    "sop_to_yaml",
]
