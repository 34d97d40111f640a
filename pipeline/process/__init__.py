"""Discovery: the de-facto process of each workflow, mined from the step event log.

Pure functions over the ``step_events`` frame: trace variants, the directly-follows
graph, step precedence and the candidate SOP, each for every workflow, and the
playbook draft a reviewed candidate becomes; :func:`discover_process` builds the
stage's three tables from one sort of the log. The store glue is in
:mod:`pipeline.process.run`, the XES export writer in :mod:`pipeline.process.xes`.
"""

from pipeline.process.candidate import discover_candidate_sop, precedence
from pipeline.process.dfg import discover_dfg
from pipeline.process.discover import discover_process, not_steps
from pipeline.process.draft import draft_sop
from pipeline.process.log import END, START
from pipeline.process.variants import discover_variants, variant_id, variant_of_case

__all__ = [
    "END",
    "START",
    "discover_candidate_sop",
    "discover_dfg",
    "discover_process",
    "discover_variants",
    "draft_sop",
    "not_steps",
    "precedence",
    "variant_id",
    "variant_of_case",
]
