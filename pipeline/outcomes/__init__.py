"""Stage 8, outcomes: how each conversation ended, and whether the customer came back.

:func:`derive_outcomes` turns conversations, turns and each conversation's workflow into
the ``outcomes`` table (from the data's outcome field where it has one, else from the
transcript's escalation, transfer and closing phrases); :func:`normalise_outcome` maps
the data's spellings onto the outcome values. :mod:`pipeline.outcomes.run` is the only
module of the stage that reads or writes the store.
"""

from pipeline.outcomes.derive import derive_outcomes, normalise_outcome

__all__ = ["derive_outcomes", "normalise_outcome"]
