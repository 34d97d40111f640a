"""The ``drift`` section of ``config.yaml``: conformance, drift findings and their tests.

Loaded and validated by :func:`pipeline.config.load_config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.errors import ConfigError, require_positive


@dataclass(frozen=True)
class DriftConfig:
    """How drift between documented and actual practice is tested (stage 7)."""

    window: Literal["day", "week", "month"] = "week"
    baseline_windows: int = 4  # the first N windows of a workflow's history are its baseline
    # Fewer conversations in a window, its baseline, or either side of an outcome
    # comparison: not tested (the tests are exact; this keeps rates off tiny denominators).
    min_count: int = 20
    alpha: float = 0.05  # false discovery rate (Benjamini-Hochberg) for flagging
    # A step-rate finding also needs the deviation rate to rise by this much (absolute);
    # outcome severity calls a harm of this size high.
    min_effect: float = 0.1
    # Severity of a flagged step-rate row: "large" is a rise of at least large_rise_factor
    # times min_effect, "strong" a q_value below alpha / strong_alpha_divisor.
    large_rise_factor: float = 2.0
    strong_alpha_divisor: float = 10.0
    # Flagged windows of one deviation with at most this many unflagged tested windows
    # between them are one finding (a dip below significance does not end a deviation).
    merge_gap: int = 2
    breakdown: tuple[str, ...] = ("team", "agent_hash")  # groups tested besides "all"
    js_threshold: float = 0.1  # Jensen-Shannon divergence that flags a mix change
    js_high_factor: float = 2.0  # a mix change of this times js_threshold is high
    variant_rare_share: float = 0.01  # rarer variants of a workflow pool into "other variants"
    permutations: int = 999  # draws per permutation test (mix drift, change points)
    seed: int = 0  # of the permutation draws
    # Conformance change points: a shift smaller than change_min_shift is not flagged; a
    # fall of change_high_factor (change_medium_factor) times it is high (medium).
    change_min_shift: float = 0.05
    change_min_segment: int = 2  # windows on each side of a change point
    change_medium_factor: float = 2.0
    change_high_factor: float = 3.0
    # Exception clusters: flagged when at least exception_min_lift times as common in
    # their SOP as in the others; high from this share of the SOP's conversations, medium...
    exception_min_lift: float = 2.0
    exception_high_share: float = 0.2
    exception_medium_share: float = 0.1  # ...from this one, else low
    # The weight of an undocumented step in conformance fitness (a missing step weighs 1).
    undocumented_weight: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"drift.alpha: expected a number in (0, 1), found {self.alpha}")
        if self.baseline_windows < 1 or self.min_count < 1:
            raise ConfigError("drift.baseline_windows and drift.min_count: expected integers >= 1")
        if self.merge_gap < 0:
            raise ConfigError(f"drift.merge_gap: expected an integer >= 0, found {self.merge_gap}")
        if self.window not in ("day", "week", "month"):
            raise ConfigError(f"drift.window: expected day/week/month, found {self.window!r}")
        if not 0.0 <= self.min_effect <= 1.0:
            raise ConfigError(
                f"drift.min_effect: expected a share in [0, 1], found {self.min_effect}"
            )
        if len(set(self.breakdown)) != len(self.breakdown):
            raise ConfigError(
                f"drift.breakdown: expected distinct columns, found {list(self.breakdown)}"
            )
        unknown = set(self.breakdown) - {"team", "agent_hash", "queue", "channel"}
        if unknown:
            raise ConfigError(
                "drift.breakdown: expected columns among team, agent_hash, queue, channel, "
                f"found {sorted(unknown)}"
            )
        require_positive("drift", self, ("permutations", "change_min_segment"))
        at_least_one = ("large_rise_factor", "strong_alpha_divisor", "js_high_factor",
                        "change_medium_factor", "exception_min_lift")  # fmt: skip
        for name in at_least_one:
            if not 1.0 <= getattr(self, name) < float("inf"):
                raise ConfigError(
                    f"drift.{name}: expected a number >= 1, found {getattr(self, name)}"
                )
        if self.change_high_factor < self.change_medium_factor:
            raise ConfigError(
                f"drift.change_high_factor ({self.change_high_factor}) must not be below "
                f"drift.change_medium_factor ({self.change_medium_factor})"
            )
        shares = ("variant_rare_share", "change_min_shift", "exception_high_share",
                  "exception_medium_share")  # fmt: skip
        for name in shares:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"drift.{name}: expected a share in [0, 1], found {getattr(self, name)}"
                )
        if self.exception_medium_share > self.exception_high_share:
            raise ConfigError(
                f"drift.exception_medium_share ({self.exception_medium_share}) must not "
                f"exceed drift.exception_high_share ({self.exception_high_share})"
            )
        if self.seed < 0:
            raise ConfigError(f"drift.seed: expected an integer >= 0, found {self.seed}")
        if not 0.0 <= self.undocumented_weight < float("inf"):
            raise ConfigError(
                f"drift.undocumented_weight: expected a number >= 0, found "
                f"{self.undocumented_weight}"
            )


# Autonomy-readiness components, each a value in [0, 1] where 1 is readier; defined in
# pipeline/readiness/score.py. Why each default weight is what it is: config.yaml.
