"""Stage 9, readiness components: what makes a workflow ready, each a value in [0, 1].

:func:`workflow_components` measures the components of one workflow on its
conversations (:func:`pipeline.readiness.inputs.readiness_inputs`), on the data and on
each bootstrap replicate; :func:`pipeline.readiness.score.score_readiness` weighs them into
the score.

The components, in the order of :data:`COMPONENTS`; each is a value in [0, 1] where 1
is readier (config keys in ``readiness.``); one that cannot be measured (no documented
SOP, never tested for drift) is null and its weight is shared out over the others.

volume
    ``log(1 + n) / log(1 + volume_full)``, capped at 1: payoff and evidence grow with
    orders of magnitude of volume, not linearly.
standardisation
    ``1 - H / log(n)``: ``H`` is the entropy of the workflow's trace variants (its
    steps in order, without ``other``, greetings, closings and consecutive repeats;
    with a documented SOP, its documented steps only, as undocumented ones count under
    exceptions), ``log(n)`` its largest possible value (every conversation a variant of
    its own).
conformance
    Mean fitness against the documented SOP (``conformance.fitness``).
resolution, repeat_contact, escalation, exceptions, handle_time_spread
    A level where 0 is ideal, mapped to ``max(0, 1 - level / zero_at[component])``:
    the share not resolved; followed by a repeat contact; escalated or transferred;
    exceptional (an undocumented step, an off-script turn: ``other``, which no step
    explains, or a failed system action: a tool or API call whose result was a
    failure); and the coefficient of variation of agent turns (or duration).
stability
    ``1 - c / w``: of the ``w`` windows in which the drift stage tested the workflow,
    ``c`` start a change (a flagged finding of ``stability_kinds`` whose series was not
    flagged in its previous tested window: a deviation that persists is one change).
system_actions
    Of the steps performed (distinct per conversation), the share bound to a tool: an
    ``action`` in the SOP, or a logged action that no step is bound to.
risk
    ``1 - risk_moves_money x moves_money - risk_regulated x regulated``, plus
    ``approval_credit`` when such an SOP has an approval step (a ``when`` condition, or
    an id or action holding one of ``approval_words``). From the SOP alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy import sparse

from pipeline.config import READINESS_COMPONENTS, ReadinessConfig
from pipeline.sops.model import Sop

COMPONENTS = READINESS_COMPONENTS
_CELLS = 4_000_000  # bootstrap weights held at once (replicates x conversations): ~32 MB


def workflow_components(
    part: pl.DataFrame, fact: dict, sop: Sop | None, *, config: ReadinessConfig, rng
) -> tuple[np.ndarray, dict[str, str]]:
    """Return the (1 + replicates) x components values of one workflow, and the details.

    Parameters
    ----------
    part
        The workflow's rows of ``ReadinessInputs.conversations``.
    fact
        The workflow's row of ``ReadinessInputs.workflows`` (its stability), or empty.
    sop
        The documented SOP of the workflow, or None.
    config
        Bootstrap size, ``zero_at`` levels, volume and risk settings.
    rng
        Draws the bootstrap weights.

    Returns
    -------
    values : numpy.ndarray
        Row 0 on the data, then one row per bootstrap replicate; one column per
        component of :data:`COMPONENTS`, NaN where not measured.
    details : dict
        Component -> what was measured, in words (row 0).
    """
    n = part.height
    spread = "n_agent_turns" if config.handle_time == "turns" else "duration_s"
    measures = part.select(
        pl.col("fitness"),
        pl.col("resolved", "escalated", "repeat_contact", "has_exception").cast(pl.Float64),
        _spread=pl.col(spread).cast(pl.Float64),
        _spread2=pl.col(spread).cast(pl.Float64) ** 2,
        _steps=pl.col("n_steps").cast(pl.Float64),
        _actions=pl.col("n_action_steps").cast(pl.Float64),
    ).to_numpy()
    measured = ~np.isnan(measures)
    variant_index = part["variant_id"].rank("dense").cast(pl.Int64).to_numpy() - 1
    n_variants = int(variant_index.max()) + 1
    sums, counts = _resampled_sums(
        np.hstack([np.where(measured, measures, 0.0), measured.astype(np.float64)]),
        variant_index,
        n_variants,
        replicates=config.bootstrap,
        rng=rng,
    )
    k = measures.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums[:, :k] / sums[:, k:]
        fitness, resolved, escalated, repeat, exception, mu, mu2, steps, actions = mean.T
        cv = np.where(mu > 0, np.sqrt(np.maximum(mu2 - mu**2, 0.0)) / mu, 0.0)
        cv = np.where(np.isnan(mu), np.nan, cv)
        shares = counts / n
        entropy = -(shares * np.log(np.where(shares > 0, shares, 1.0))).sum(axis=1)
        standardisation = 1.0 - entropy / math.log(n) if n > 1 else np.ones(len(counts))
        backed = actions / steps
    risk, risk_detail = _risk(sop, config)
    stability = fact.get("stability")
    zero = config.zero_at
    columns = {
        "volume": np.full(len(counts), min(1.0, math.log1p(n) / math.log1p(config.volume_full))),
        "standardisation": standardisation,
        "conformance": fitness,
        "resolution": _falling(1.0 - resolved, zero["resolution"]),
        "repeat_contact": _falling(repeat, zero["repeat_contact"]),
        "escalation": _falling(escalated, zero["escalation"]),
        "exceptions": _falling(exception, zero["exceptions"]),
        "handle_time_spread": _falling(cv, zero["handle_time_spread"]),
        "stability": np.full(len(counts), np.nan if stability is None else stability),
        "system_actions": backed,
        "risk": np.full(len(counts), risk),
    }
    values = np.column_stack([columns[c] for c in COMPONENTS])
    order = np.sort(counts[0])[::-1].cumsum() / n
    cover = int(np.searchsorted(order, config.variant_cover - 1e-9) + 1)
    unit = "agent turns" if config.handle_time == "turns" else "handle time"
    details = {
        "volume": f"{n} conversations",
        "standardisation": f"{cover} of {n_variants} variants cover "
        f"{config.variant_cover:.0%} of calls",
        "conformance": _said(fitness[0], "mean fitness {:.2f} against the documented SOP"),
        "resolution": _said(resolved[0], "{:.0%} of calls resolved"),
        "repeat_contact": _said(repeat[0], "{:.0%} of calls followed by a repeat contact"),
        "escalation": _said(escalated[0], "{:.0%} of calls escalated or transferred"),
        "exceptions": _said(
            exception[0],
            "{:.0%} of calls with undocumented steps, off-script turns or failed system calls",
        )
        + _failed_share(part),
        "handle_time_spread": _said(cv[0], unit + " vary by {:.0%} around their mean"),
        "stability": "not tested for drift"
        if stability is None
        else f"drift starts in {fact['n_unstable_windows']} of {fact['n_windows']} windows",
        "system_actions": _said(backed[0], "{:.0%} of performed steps are bound to a tool"),
        "risk": risk_detail,
    }
    return values, details


def _resampled_sums(
    columns: np.ndarray, codes: np.ndarray, n_codes: int, *, replicates: int, rng
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted column sums and variant counts: row 0 the data, then bootstrap replicates.

    Each replicate weights the ``n`` conversations by multinomial counts (a resample
    with replacement); weights are drawn ``_CELLS // n`` replicates at a time.
    """
    n = columns.shape[0]
    onehot = sparse.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, n_codes))
    sums, counts = [columns.sum(axis=0)[None, :]], [np.asarray(onehot.sum(axis=0))]
    step = max(1, _CELLS // n)
    for start in range(0, replicates, step):
        draws = rng.multinomial(n, np.full(n, 1.0 / n), size=min(step, replicates - start))
        sums.append(draws.astype(np.float64) @ columns)  # float: BLAS, not numpy's int loop
        counts.append(np.asarray((onehot.T @ draws.T).T))
    return np.vstack(sums), np.vstack(counts)


def _failed_share(part: pl.DataFrame) -> str:
    """``, 12% with a failed system call``; nothing where no call is known to have failed."""
    share = (part["failed_actions"] > 0).mean() if part.height else None
    if not share:
        return ""
    return f", {'<1%' if share < 0.005 else f'{share:.0%}'} with a failed system call"


def _said(value: float, template: str) -> str:
    return "not measured" if math.isnan(value) else template.format(value)


def _falling(level: np.ndarray, zero_at: float) -> np.ndarray:
    """Map a level where 0 is ideal onto [0, 1]: 1 at 0, falling linearly to 0 at ``zero_at``."""
    return np.clip(1.0 - level / zero_at, 0.0, 1.0)


def has_approval_step(sop: Sop, words: Sequence[str]) -> bool:
    """Whether the SOP has an approval step: a ``when`` gate, or an id/action naming one."""
    return any(
        step.when is not None or any(w in f"{step.id} {step.action or ''}".lower() for w in words)
        for step in sop.steps
    )


def risk_names(sop: Sop) -> str:
    """Name the SOP's risks in words: ``moves money and regulated``, or empty."""
    flags = [name for name, on in (("moves money", sop.risk.moves_money),
                                   ("regulated", sop.risk.regulated)) if on]  # fmt: skip
    return " and ".join(flags)


def _risk(sop: Sop | None, config: ReadinessConfig) -> tuple[float, str]:
    if sop is None:
        return math.nan, "no documented SOP: risk unknown"
    risks = risk_names(sop)
    if not risks:
        return 1.0, "neither moves money nor regulated"
    gated = has_approval_step(sop, config.approval_words)
    value = (
        1.0
        - config.risk_moves_money * sop.risk.moves_money
        - config.risk_regulated * sop.risk.regulated
        + config.approval_credit * gated
    )
    where = "with" if gated else "without"
    return min(1.0, max(0.0, value)), f"{risks}, {where} an approval step in the SOP"
