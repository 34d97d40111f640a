"""Step scores and the threshold calibrated on them."""

import numpy as np
import pytest
from steps.extract_cases import BALANCE

from pipeline.steps.library import step_library
from pipeline.steps.scores import calibrate_threshold, otsu_threshold


def test_otsu_threshold_splits_between_the_two_groups():
    assert otsu_threshold(np.array([0.1, 0.2, 0.15, 0.8, 0.9, 0.85])) == pytest.approx(0.5)
    assert otsu_threshold(np.array([0.4])) == 0.4
    assert otsu_threshold(np.array([])) == 1.0


def test_threshold_is_calibrated_on_scores_that_fill_no_template():
    library = step_library([BALANCE])
    n_types = len(library.type_ids)
    best = np.array([1.0, 1.0, 1.0, 0.9, 0.8, 0.3, 0.2])  # three template fills left out
    scores = np.full((len(best), n_types), -1.0)
    scores[:, 0] = best
    assert calibrate_threshold(scores, library) == pytest.approx(0.55)
