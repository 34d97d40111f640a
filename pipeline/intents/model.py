"""The fitted intent model: assigning new conversations with it, and its persistence.

Later runs assign new conversations with the saved model (``reducer.transform`` then
``hdbscan.approximate_predict``, then the nearest-centroid rule of the fit:
:func:`pipeline.intents.fit.assign_labels`).
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from pipeline.clustering import NOISE, Projection
from pipeline.errors import ModelError
from pipeline.intents.fit import assign_labels

MODEL_FORMAT = 1  # bump when IntentModel's pickled layout changes


@dataclass
class IntentModel:
    """A fitted intent model: what a later run needs to assign and to reconcile ids."""

    version: int
    intent_ids: list[str]  # one per cluster index
    centroids: np.ndarray  # (n_intents, dim) unit rows, original embedding space
    reducer: Any
    clusterer: Any
    params: dict[str, Any]
    fitted_at: datetime
    fitted_ids: frozenset[str] = field(default_factory=frozenset)  # conversations in the fit
    # conversations present at the fit (its sample and those predicted): what a later run's
    # share of new ones is measured against; 0 in a model saved before it was counted
    n_at_fit: int = 0
    descriptions: list[dict[str, Any]] = field(default_factory=list)  # per cluster index
    format: int = MODEL_FORMAT


class Assign(Protocol):
    """Assigns rows of request vectors with a saved model, as :func:`assign_intents`."""

    def __call__(
        self, model: IntentModel, vectors: np.ndarray, *, threshold: float
    ) -> tuple[list[str | None], np.ndarray, np.ndarray]:
        """Return each row's intent id (or None), probability and method."""
        ...


def assign_intents(
    model: IntentModel, vectors: np.ndarray, *, threshold: float
) -> tuple[list[str | None], np.ndarray, np.ndarray]:
    """Assign new conversations to a saved model's intents.

    Returns
    -------
    intent_ids : list of str or None
        The intent of each row, ``None`` when unassigned.
    probability : numpy.ndarray
        HDBSCAN membership strength (or the cosine to the centroid for a nearest match).
    method : numpy.ndarray
        ``predicted``, ``nearest`` or ``unassigned`` per row.
    """
    n = len(vectors)
    if n == 0:
        return [], np.zeros(0), np.zeros(0, dtype=object)
    labels, probability, method = assign_labels(
        model.reducer, model.clusterer, model.centroids, model.params.get("children", {}),
        vectors, threshold=threshold,
    )  # fmt: skip
    ids = [model.intent_ids[label] if label != NOISE else None for label in labels]
    return ids, probability, method


def dump_model(model: IntentModel) -> bytes:
    """Serialise a model for ``intent_models`` (pickle: only ever read back by cxminer)."""
    buffer = io.BytesIO()
    pickle.dump(model, buffer, protocol=pickle.HIGHEST_PROTOCOL)
    return buffer.getvalue()


def load_model(blob: bytes, version: int) -> IntentModel:
    """Read a model written by :func:`dump_model`.

    Raises
    ------
    ModelError
        The model was written by an incompatible cxminer version; refit with
        ``cxminer intents --refit``.
    """
    try:
        model = _Unpickler(io.BytesIO(blob)).load()  # our own table, written by dump_model
    except Exception as exc:  # unpickling runs arbitrary library code
        raise ModelError(
            f"intent model v{version}: cannot be read ({type(exc).__name__}: {exc}); "
            "refit with `cxminer intents --refit`"
        ) from None
    if not isinstance(model, IntentModel) or model.format != MODEL_FORMAT:
        raise ModelError(
            f"intent model v{version}: written by another cxminer version; "
            "refit with `cxminer intents --refit`"
        )
    return model


class _Unpickler(pickle.Unpickler):
    """Unpickle, finding classes at the module they lived in when the model was saved.

    Models name the modules of their day: ``pipeline.intents`` (one module, before the
    intents split), ``pipeline.intent_model`` and ``pipeline.intent_fit`` (up to
    f8c2ab0), then ``pipeline.intents.model`` and ``pipeline.intents.fit`` (before
    :class:`~pipeline.clustering.Projection` moved). Their layout is unchanged, so they
    still load.
    """

    _moved: dict[tuple[str, str], type] = {
        ("pipeline.intents", "IntentModel"): IntentModel,
        ("pipeline.intents", "Projection"): Projection,
        ("pipeline.intent_model", "IntentModel"): IntentModel,
        ("pipeline.intent_fit", "Projection"): Projection,
        ("pipeline.intents.fit", "Projection"): Projection,
    }

    def find_class(self, module: str, name: str) -> Any:
        """Return the class ``module.name`` names, or the one it moved to."""
        moved = self._moved.get((module, name))
        return moved if moved is not None else super().find_class(module, name)
