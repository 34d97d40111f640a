"""Stage 9, readiness: which workflows an AI agent can run, with a human gate, or not at all.

:func:`readiness_inputs` joins the stage tables into one row per conversation and one
per workflow; :func:`workflow_components` measures each workflow's readiness components;
:func:`score_readiness` turns them into the ranked ``readiness`` table, with intervals
and tiers, and :func:`format_readiness` prints it; :func:`leaders_capacity` gives each
workflow's volume and agent hours a month and what an AI agent could take at its tier,
and :func:`format_capacity` prints that. :mod:`pipeline.readiness.run` is the
only module of the stage that reads or writes the store.
"""

from pipeline.readiness.capacity import format_capacity, leaders_capacity
from pipeline.readiness.components import workflow_components
from pipeline.readiness.inputs import readiness_inputs
from pipeline.readiness.score import format_readiness, score_readiness

__all__ = [
    "format_capacity",
    "format_readiness",
    "leaders_capacity",
    "readiness_inputs",
    "score_readiness",
    "workflow_components",
]
