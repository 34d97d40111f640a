"""The step tagger keeps the scikit-learn contract: clone, refit, inputs, errors."""

import numpy as np
import polars as pl
import pytest
from fake_embedders import WordsEmbedder
from polars.testing import assert_frame_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from steps.extract_cases import (
    BALANCE,
    FRAUD,
    ON_SCRIPT,
    PLACES,
    _family_calls,
    frame,
)

from pipeline.steps.library import step_library
from pipeline.steps.scores import calibrate_threshold, score_phrases, score_types
from pipeline.steps.tagger import ScoredUnits, StepTagger
from pipeline.steps.units import agent_units


def scored_units(calls: pl.DataFrame, sops) -> ScoredUnits:
    """The units of ``calls`` scored against ``sops`` as extract_steps scores them."""
    units = agent_units(calls)
    library = step_library(sops)
    texts = units["text"].drop_nulls().unique(maintain_order=True).to_list()
    embedder = WordsEmbedder()
    vectors, proto_vectors = embedder.encode(texts), embedder.encode(list(library.proto_texts))
    phrase_scores = score_phrases(texts, vectors, proto_vectors, library)
    row_of = {t: i for i, t in enumerate(texts)}
    rows = np.array([row_of.get(t, -1) for t in units["text"].fill_null("")], dtype=np.int64)
    scores = score_types(phrase_scores, library)
    return ScoredUnits(units, rows, scores, phrase_scores, proto_vectors, library)


@pytest.fixture(scope="module")
def scored() -> ScoredUnits:
    # on-script balance calls with off-script small talk: enough of both to calibrate
    families = [
        *ON_SCRIPT,
        lambda i: ("agent", f"Lovely weather in {PLACES[i % 10]} today"),
        lambda i: ("agent", "Thank you and goodbye."),
    ]
    return scored_units(frame(*_family_calls(12, families)), [BALANCE, FRAUD])


def test_fit_learns_the_threshold_from_the_data_and_returns_self(scored):
    tagger = StepTagger()
    assert tagger.fit(scored) is tagger
    expected = calibrate_threshold(scored.scores[scored.rows[scored.rows >= 0]], scored.library)
    assert tagger.threshold_ == expected
    assert StepTagger(threshold=0.6).fit(scored).threshold_ == 0.6


def test_tags_are_the_steps_of_the_sop_each_call_follows(scored):
    tags = StepTagger(threshold=0.6).fit(scored).tag(scored)
    ids = scored.library.type_ids
    first_call = [ids[s] if s >= 0 else s for s in tags.state[:5].tolist()]
    assert first_call[:3] == ["ask_account", "lookup", "inform_balance"]
    assert tags.chosen == ["balance"] * 12
    assert np.array_equal(StepTagger(threshold=0.6).fit(scored).predict(scored), tags.state)


def test_clone_keeps_the_hyperparameters_and_drops_what_was_learned(scored):
    tagger = StepTagger(threshold=0.7, min_explained=0.3, neighbours=3).fit(scored)
    copy = clone(tagger)
    assert copy.get_params() == tagger.get_params()
    assert not hasattr(copy, "threshold_")


def test_refitting_gives_the_same_tags(scored):
    tagger = StepTagger()
    first = tagger.fit(scored).tag(scored)
    second = tagger.fit(scored).tag(scored)
    assert np.array_equal(first.state, second.state)
    assert np.array_equal(first.confidence, second.confidence, equal_nan=True)
    assert first.chosen == second.chosen


def test_fit_and_tag_do_not_modify_their_input(scored):
    arrays = {
        name: getattr(scored, name).copy()
        for name in ("rows", "scores", "phrase_scores", "proto_vectors")
    }
    units = scored.units.clone()
    StepTagger().fit(scored).tag(scored)
    for name, before in arrays.items():
        assert np.array_equal(getattr(scored, name), before), name
    assert_frame_equal(scored.units, units)


@pytest.mark.parametrize("method", ["tag", "predict"])
def test_tagging_before_fit_is_a_not_fitted_error(scored, method):
    with pytest.raises(NotFittedError):
        getattr(StepTagger(), method)(scored)


@pytest.mark.parametrize(
    "params",
    [
        {"threshold": 1.5},
        {"min_explained": -0.1},
        {"neighbours": -1},
        {"slot_alpha": 1.0},
        {"slot_min_said": 0},
        {"slot_majority": 0.0},
    ],
)
def test_a_bad_hyperparameter_is_rejected_by_fit_naming_it(scored, params):
    tagger = StepTagger(**params)  # __init__ only stores
    with pytest.raises(ValueError, match=next(iter(params))):
        tagger.fit(scored)


def test_hyperparameters_are_keyword_only():
    with pytest.raises(TypeError):
        StepTagger(0.5)
