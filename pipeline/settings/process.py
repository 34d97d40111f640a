"""The ``discover`` section of ``config.yaml``: the de-facto process of each intent.

Loaded and validated by :func:`pipeline.config.load_config`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import ConfigError


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
