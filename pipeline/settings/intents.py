"""The ``intents`` section of ``config.yaml``: reduction, clustering and naming of intents.

Loaded and validated by :func:`pipeline.config.load_config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.errors import ConfigError, require_positive

DEFAULT_PLEASANTRIES = (
    "hello", "hi", "hey", "hiya", "howdy", "greetings", "good", "morning", "afternoon",
    "evening", "day", "thanks", "thank", "cheers", "please", "ok", "okay", "yes", "yeah",
    "yep", "no", "nope", "sure", "great", "fine", "name", "im", "called", "help", "assist",
    "question", "wondering", "hoping", "bye", "goodbye",
)  # fmt: skip


@dataclass(frozen=True)
class IntentConfig:
    """How conversations are grouped into intents (stage 4)."""

    # The request: the first N customer turns that carry content (a turn with fewer than
    # min_content_words words outside stop words and pleasantries is skipped).
    opening_turns: int = 3
    min_content_words: int = 2
    pleasantries: tuple[str, ...] = DEFAULT_PLEASANTRIES
    # Also skip answers (names, numbers, places, "yes", "it's <NAME>"; with agent turns,
    # every customer turn after the agent replied to the request) when picking the request.
    # Labels always skip them. Off by default: on real chats answers carry the request's
    # subject (a city pair, a hotel name) and the scoreboard's intent accuracy falls.
    skip_answers: bool = False
    reducer: Literal["umap", "pca"] = "umap"
    n_components: int = 5
    n_neighbors: int = 15
    min_samples: int = 5
    # The smallest intent worth naming, as shares of the fitted conversations; the
    # HDBSCAN run with the best density-based validity (DBCV) among them is kept.
    min_cluster_shares: tuple[float, ...] = (0.002, 0.004, 0.008, 0.016, 0.032)
    # Another cut than the data-chosen one: "coarser" doubles each candidate share (fewer,
    # larger intents), "finer" halves them; smallest_intent_share fixes the smallest
    # intent's share instead of searching (steadier across seeds; the number of intents
    # still comes from the data).
    granularity: Literal["coarser", "default", "finer"] = "default"
    smallest_intent_share: float | None = None
    # HDBSCAN cluster selection methods tried with each size. "leaf" splits dense regions
    # into many small clusters whose DBCV can beat a better "eom" run by chance.
    selection_methods: tuple[str, ...] = ("eom",)
    min_cluster_floor: int = 5
    fit_sample: int = 10000  # fit on at most this many conversations; the rest are predicted
    assign_threshold: float = 0.5  # cosine to an intent centroid to join it (noise, new data)
    match_threshold: float = 0.7  # a refit keeps an old id when the centroids are this close
    lineage_share: float = 0.2  # share of an intent's conversations that makes a split/merge
    refit: Literal["auto", "always", "never"] = "auto"
    refit_after_days: int = 30  # auto: refit when the model is this old...
    refit_new_share: float = 0.5  # ...or this share of conversations was added since its fit
    emerging_days: int = 28  # "recent" = the last N days of data
    emerging_share: float = 0.9  # an intent with this share of recent conversations is new
    # A new request type is often too small to be its own intent at the chosen size and
    # joins a neighbour; look inside each intent (at a quarter of that size) for an
    # all-recent group and split it off as its own, emerging intent.
    emerging_split: bool = True
    n_terms: int = 8
    # Families over intents: intents whose requests have at least this mean pairwise
    # cosine are one family (group-average linkage); 1.0 makes each intent its own.
    family_similarity: float = 0.35
    seed: int = 0

    def __post_init__(self) -> None:
        require_positive("intents", self, ("opening_turns", "n_components", "n_neighbors",
                                           "min_samples", "min_cluster_floor", "fit_sample",
                                           "emerging_days", "n_terms"))  # fmt: skip
        if self.min_content_words < 0 or self.refit_after_days < 0:
            raise ConfigError("intents.min_content_words/refit_after_days: expected >= 0")
        shares = ("assign_threshold", "match_threshold", "lineage_share", "refit_new_share",
                  "emerging_share", "family_similarity")  # fmt: skip
        for name in shares:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"intents.{name}: expected a number in [0, 1], found {getattr(self, name)}"
                )
        if not self.min_cluster_shares or not all(0 < v < 1 for v in self.min_cluster_shares):
            raise ConfigError(
                "intents.min_cluster_shares: expected a non-empty list of shares in (0, 1), "
                f"found {list(self.min_cluster_shares)}"
            )
        share = self.smallest_intent_share
        if share is not None and not 0 < share < 1:
            raise ConfigError(
                f"intents.smallest_intent_share: expected a share in (0, 1) or null, found {share}"
            )
        if not self.selection_methods or set(self.selection_methods) - {"eom", "leaf"}:
            raise ConfigError(
                "intents.selection_methods: expected a non-empty list of eom and/or leaf, "
                f"found {list(self.selection_methods)}"
            )

    def cluster_shares(self) -> tuple[float, ...]:
        """Return the smallest-intent shares the fit tries, after ``granularity``."""
        if self.smallest_intent_share is not None:
            return (self.smallest_intent_share,)
        scale = {"coarser": 2.0, "default": 1.0, "finer": 0.5}[self.granularity]
        return tuple(min(share * scale, 0.5) for share in self.min_cluster_shares)
