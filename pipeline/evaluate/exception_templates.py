"""Exception clusters that are documented steps: flagged clusters whose exemplar fills a template.

A flagged ``exception_cluster`` finding says agents do something the SOP does not
document. When its exemplar (the cluster's most typical turn, kept in ``details``) fills
a documented step's template once its slots are filled, the finding is a false alarm:
:func:`count_template_exemplars` counts them for the scoreboard.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import polars as pl

from pipeline.sops.model import Sop
from pipeline.steps.library import template_pattern


def count_template_exemplars(findings: pl.DataFrame, sops: Sequence[Sop]) -> dict:
    """Count the flagged exception clusters whose exemplar fills a documented template.

    An exemplar fills a template when a phrasing of a step (its examples and description)
    with slots, as :func:`~pipeline.steps.library.template_pattern`, matches all of it, or
    when it is a phrasing without slots itself (case and whitespace aside). Steps of the
    cluster's own SOP are tried first, then those of every SOP.

    Parameters
    ----------
    findings
        ``drift_findings`` rows; those of kind ``exception_cluster`` that are flagged are
        read (``sop_id``, ``step``, ``details`` JSON with ``exemplar``).
    sops
        The documented SOPs.

    Returns
    -------
    dict
        ``n_flagged_clusters``, ``n_template_exemplars`` and ``examples``: per such
        cluster its ``sop_id``, ``step``, ``exemplar``, the ``template`` it fills, the
        SOP step (``template_step``, ``sop_id/step_id``) and ``own_sop`` (whether that
        step is of the cluster's SOP).
    """
    flagged = findings.filter(
        (pl.col("kind") == "exception_cluster") & pl.col("flagged").fill_null(False)
    )
    phrasings = [
        (sop.sop_id, step.id, " ".join(text.split()))
        for sop in sops
        for step in sop.steps
        for text in dict.fromkeys((*step.examples, step.description))
        if text.strip()
    ]
    examples = []
    for sop_id, step, details in flagged.select("sop_id", "step", "details").iter_rows():
        exemplar = " ".join(str(json.loads(details or "{}").get("exemplar") or "").split())
        if not exemplar:
            continue
        fills = [p for p in phrasings if _fills(exemplar, p[2])]
        fills.sort(key=lambda p: p[0] != sop_id)  # the cluster's own SOP first
        if fills:
            owner, step_id, template = fills[0]
            examples.append({"sop_id": sop_id, "step": step, "exemplar": exemplar,
                             "template": template, "template_step": f"{owner}/{step_id}",
                             "own_sop": owner == sop_id})  # fmt: skip
    return {
        "n_flagged_clusters": flagged.height,
        "n_template_exemplars": len(examples),
        "examples": examples,
    }


def _fills(text: str, phrasing: str) -> bool:
    """Whether ``text`` is ``phrasing`` with its slots filled (or is the phrasing itself)."""
    pattern = template_pattern(phrasing)
    if pattern is None:
        return text.casefold() == phrasing.casefold()
    return pattern.fullmatch(text) is not None
