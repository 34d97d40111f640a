"""The ``steps`` section of ``config.yaml``: step tagging, roles and turn clustering.

Loaded and validated by :func:`pipeline.config.load_config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipeline.errors import ConfigError, require_choice, require_positive
from pipeline.schema import SPEAKERS
from pipeline.settings.intents import IntentConfig


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
        """Return the :class:`IntentConfig` whose fitting settings clustering turns uses.

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
