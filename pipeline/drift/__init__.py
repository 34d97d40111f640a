"""Stage 7, conformance and drift: how conversations depart from their SOPs, and when.

:func:`check_conformance` checks each conversation's step trace against its documented
SOP (the ``conformance`` table); :func:`find_drift`, :func:`find_mix_drift`,
:func:`find_variant_mix_drift`, :func:`find_conformance_changes` and
:func:`find_exception_clusters` turn conformance, outcomes and conversations into the
rows of ``drift_findings``. All are pure functions of frames; :mod:`pipeline.drift.run`
is the only module of the stage that reads or writes the store.
"""

from pipeline.drift.change_points import find_conformance_changes
from pipeline.drift.conformance import check_conformance, check_trace
from pipeline.drift.deviating_turns import find_deviating_turns
from pipeline.drift.exceptions import find_exception_clusters
from pipeline.drift.mix import find_mix_drift, find_variant_mix_drift
from pipeline.drift.step_rates import find_drift

__all__ = [
    "check_conformance",
    "check_trace",
    "find_conformance_changes",
    "find_deviating_turns",
    "find_drift",
    "find_exception_clusters",
    "find_mix_drift",
    "find_variant_mix_drift",
]
