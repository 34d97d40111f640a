"""The step tagger: learns the similarity a turn needs to count as a step, then tags.

:class:`StepTagger` follows the scikit-learn contract. :meth:`StepTagger.fit` learns
``threshold_`` (Otsu's split of the turns' best scores, :func:`calibrate_threshold`,
unless a fixed ``threshold`` is given) and ``roles_``, the library's steps that play
greeting, closing and hold at that threshold. :meth:`StepTagger.tag` then gives each
unit its step: the SOP each conversation follows, Viterbi decoding against that SOP,
and recurring wordings in empty slots (:mod:`pipeline.steps.decoding`,
:mod:`pipeline.steps.slots`). Its input is :class:`ScoredUnits`, the units of one
extraction scored against a step library.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from pipeline.config import StepsConfig
from pipeline.steps.decoding import choose_sops, decode_steps, find_roles
from pipeline.steps.library import StepLibrary
from pipeline.steps.scores import calibrate_threshold
from pipeline.steps.slots import fill_slots, slot_votes


@dataclass(frozen=True)
class ScoredUnits:
    """The units of one extraction and their scores against a step library.

    Attributes
    ----------
    units
        :func:`~pipeline.steps.units.agent_units`' frame.
    rows
        Per unit, its text's row of ``scores`` (-1 for an action event or empty turn); a
        turn that reads its result's values has a row of its own
        (:func:`~pipeline.steps.slot_values.read_result_values`).
    scores
        ``(n_texts, n_types)`` type scores (:func:`~pipeline.steps.scores.score_types`).
    phrase_scores
        ``(n_texts, n_phrasings)`` phrasing scores
        (:func:`~pipeline.steps.scores.score_phrases`).
    proto_vectors
        ``(n_phrasings, dim)`` unit vectors of the library's phrasings.
    library
        The step types of the columns.
    requests
        One opening-request vector per conversation of ``units``, in order (zeros where
        none), or None.
    """

    units: pl.DataFrame
    rows: np.ndarray
    scores: np.ndarray
    phrase_scores: np.ndarray
    proto_vectors: np.ndarray
    library: StepLibrary
    requests: np.ndarray | None = None


@dataclass(frozen=True)
class StepTags:
    """What :meth:`StepTagger.tag` gives each unit, and each conversation's SOP.

    Attributes
    ----------
    state
        Per unit, its type code (a column of ``scores``), ``OTHER_CODE`` or
        ``ACTION_CODE`` (:mod:`pipeline.steps.decoding`).
    confidence
        Per unit, the similarity to its step (NaN for other).
    chosen
        Per conversation (in the units' order), the SOP it follows or None.
    """

    state: np.ndarray
    confidence: np.ndarray
    chosen: list[str | None]


class StepTagger(BaseEstimator):
    """Tag agent turns and action events with the steps of the SOP each call follows.

    Parameters
    ----------
    threshold
        The similarity a turn needs to count as a step; None learns it from the data
        in :meth:`fit`.
    min_explained
        A SOP applies to a conversation when it explains at least this share of the
        units that conversation management does not.
    neighbours
        How many similar opening requests vote on a conversation's SOP (0: not used).
    slot_alpha, slot_min_said, slot_majority
        How a recurring off-script wording fills a missing step's slot
        (:func:`~pipeline.steps.slots.fill_slots`' ``alpha``, ``min_said``, ``majority``).

    Attributes
    ----------
    threshold_ : float
        The threshold used: ``threshold``, or the one calibrated on the data.
    roles_ : pipeline.steps.decoding.Roles
        The library's role steps at ``threshold_`` and the id each type is emitted as.
    """

    _parameter_constraints: dict = {
        "threshold": [Interval(Real, 0.0, 1.0, closed="both"), None],
        "min_explained": [Interval(Real, 0.0, 1.0, closed="both")],
        "neighbours": [Interval(Integral, 0, None, closed="left")],
        "slot_alpha": [Interval(Real, 0.0, 1.0, closed="neither")],
        "slot_min_said": [Interval(Integral, 1, None, closed="left")],
        "slot_majority": [Interval(Real, 0.0, 1.0, closed="neither")],
    }

    def __init__(
        self,
        *,
        threshold: float | None = StepsConfig.threshold,
        min_explained: float = StepsConfig.min_explained,
        neighbours: int = StepsConfig.neighbours,
        slot_alpha: float = StepsConfig.slot_alpha,
        slot_min_said: int = StepsConfig.slot_min_said,
        slot_majority: float = StepsConfig.slot_majority,
    ) -> None:
        self.threshold = threshold
        self.min_explained = min_explained
        self.neighbours = neighbours
        self.slot_alpha = slot_alpha
        self.slot_min_said = slot_min_said
        self.slot_majority = slot_majority

    def fit(self, X: ScoredUnits, y: None = None) -> StepTagger:
        """Learn ``threshold_`` and ``roles_`` from the units' scores; return self.

        Calibrating needs both on-script paraphrases and off-script turns among the
        turns that fill no template: pass a fixed ``threshold`` for a few turns only.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            A hyperparameter is out of range (a ``ValueError`` naming it).
        """
        self._validate_params()
        if self.threshold is None:
            self.threshold_ = calibrate_threshold(X.scores[X.rows[X.rows >= 0]], X.library)
        else:
            self.threshold_ = self.threshold
        self.roles_ = find_roles(X.library, X.proto_vectors, self.threshold_)
        return self

    def tag(self, X: ScoredUnits) -> StepTags:
        """Choose each conversation's SOP, decode its units and fill empty slots.

        ``X`` is scored against the library the tagger was fitted on.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            :meth:`fit` has not been called.
        """
        check_is_fitted(self)
        units, rows, scores, library = X.units, X.rows, X.scores, X.library
        chosen = choose_sops(
            units, scores, X.phrase_scores, rows, library, self.roles_.shared,
            threshold=self.threshold_, min_explained=self.min_explained,
            requests=X.requests, neighbours=self.neighbours,
        )  # fmt: skip
        state, confidence = decode_steps(
            units, scores, rows, library, self.roles_, chosen, self.threshold_
        )
        votes = slot_votes(units, state, rows, library, self.roles_, chosen)
        filled = fill_slots(units, state, rows, votes, chosen, alpha=self.slot_alpha,
                            min_said=self.slot_min_said, majority=self.slot_majority)  # fmt: skip
        changed = np.flatnonzero(filled != state)
        confidence[changed] = np.maximum(scores[rows[changed], filled[changed]], 0.0)
        return StepTags(state=filled, confidence=confidence, chosen=chosen)

    def predict(self, X: ScoredUnits) -> np.ndarray:
        """Return each unit's type code (see :class:`StepTags`' ``state``)."""
        return self.tag(X).state
