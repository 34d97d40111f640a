"""Evaluation: score what the stages found against ground truth.

The labels format and its readers are in :mod:`pipeline.evaluate.truth` and
:mod:`pipeline.evaluate.datasets`; :func:`pipeline.evaluate.scores.evaluate` reads a
database and scores each section (intents, steps, process, conformance, outcomes,
drift, readiness) with the modules of the same names; the pure entry points below
score frames and sequences without a database.
"""

from pipeline.evaluate.metrics import edit_similarity, score_clustering, spearman
from pipeline.evaluate.steps import score_step_log

__all__ = ["edit_similarity", "score_clustering", "score_step_log", "spearman"]
