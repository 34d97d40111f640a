"""Steps: agent turns and action events become an event log of SOP steps.

:func:`extract_steps` selects the units (:func:`agent_units`), scores them against the
documented SOPs' step library, fits a :class:`StepTagger` (the threshold to count as a
step, learned from the data) and tags each unit with the step of the SOP its call
follows, then clusters what no step explains into discovered step types. It produces
the ``step_events`` and ``step_types`` frames; the store glue is in
:mod:`pipeline.steps.run`.
"""

from pipeline.steps.events import OTHER, SOURCES, STEP_EVENTS_SCHEMA
from pipeline.steps.extract import extract_steps
from pipeline.steps.library import step_library
from pipeline.steps.step_types import STEP_TYPES_SCHEMA
from pipeline.steps.tagger import ScoredUnits, StepTagger, StepTags
from pipeline.steps.units import agent_units

__all__ = [
    "OTHER",
    "SOURCES",
    "STEP_EVENTS_SCHEMA",
    "STEP_TYPES_SCHEMA",
    "ScoredUnits",
    "StepTagger",
    "StepTags",
    "agent_units",
    "extract_steps",
    "step_library",
]
