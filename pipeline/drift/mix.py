"""Stage 7, mix drift: whether the mix of intents, or of a workflow's variants, moved.

:func:`find_mix_drift` reads conversations with their ``started_at`` (table
``conversations``) and a category per conversation (``intent_assignments``), and
returns ``drift_findings`` rows: each window's distribution of the category is compared
with the baseline, the first ``baseline_windows`` windows pooled, by the Jensen-Shannon
distance, with a permutation test (kind ``intent_mix``; :func:`find_variant_mix_drift`
applies it per workflow to ``conformance.variant_id``, kind ``variant_mix``).
Conformance change points are :mod:`pipeline.drift.change_points`.

Windows are calendar days, ISO weeks (Monday to Sunday) or calendar months of
``started_at`` (:mod:`pipeline.drift.windows`). A window with fewer than ``min_count``
conversations is not tested. The cost is a few group-bys over conversations, then numpy
per group and window: O(groups x windows x categories x permutations), never a loop
over conversations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import polars as pl

from pipeline.config import DriftConfig

# DRIFT_FINDINGS_SCHEMA is re-exported: callers import the batch schema from here too.
from pipeline.drift.findings import DRIFT_FINDINGS_SCHEMA as DRIFT_FINDINGS_SCHEMA
from pipeline.drift.findings import finding_id, findings_frame
from pipeline.drift.stats import bh_adjust, permutation_p_value
from pipeline.drift.windows import window_end_date, window_phrase, windowed
from pipeline.frames import require_columns
from pipeline.schema import SEVERITIES

UNASSIGNED = "unassigned"
OTHER_VARIANTS = "other variants"


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence in bits (in [0, 1]) between count or share vectors.

    The divergence itself; :func:`js_distance` is its square root. Rows of 2-d inputs are
    compared pairwise; each row is normalised to sum to 1.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / np.maximum(p.sum(axis=-1, keepdims=True), 1e-300)
    q = q / np.maximum(q.sum(axis=-1, keepdims=True), 1e-300)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum(axis=-1)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum(axis=-1)
    return np.clip((kl_p + kl_q) / 2, 0.0, 1.0)


def js_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance, base 2 (in [0, 1]): ``sqrt`` of :func:`js_divergence`.

    Equal to ``scipy.spatial.distance.jensenshannon(p, q, base=2)``, row-wise.
    """
    return np.sqrt(js_divergence(p, q))


def find_mix_drift(
    assignments: pl.DataFrame,
    conversations: pl.DataFrame,
    *,
    config: DriftConfig,
    kind: str = "intent_mix",
    key_col: str = "intent_id",
    group_col: str | None = None,
    labels: Mapping[str, str] | None = None,
    rare_share: float = 0.0,
    other_label: str = "other",
) -> pl.DataFrame:
    """Test each window's category mix against the baseline windows' mix.

    Reads ``intent_assignments`` (or any frame with a category per conversation) and
    ``conversations``; produces ``drift_findings`` rows of ``kind``.

    Per group (the whole data when ``group_col`` is None), the baseline is the first
    ``config.baseline_windows`` windows holding its conversations, pooled. Every later
    window with at least ``config.min_count`` conversations is tested (a baseline with
    fewer tests nothing): ``rate`` is the Jensen-Shannon distance (:func:`js_distance`:
    base 2, in [0, 1], the square root of the divergence, as scipy's ``jensenshannon``
    returns it) of the window's shares from the baseline's; ``p_value`` a permutation
    test of that distance (the window's counts redrawn from the pooled counts, a
    multivariate hypergeometric: exact for small counts, unlike chi-square); ``q_value``
    Benjamini-Hochberg over all windows tested. ``baseline`` is the noise level of the
    baseline itself: the mean distance of each baseline window (with ``min_count``
    conversations) from the other baseline windows pooled, 0 with fewer than two such
    windows. ``flagged`` when the distance is at least ``config.js_threshold``, above
    that noise level (the window moved further from the baseline than the baseline
    weeks move from each other: the permutation test alone takes every week-to-week
    wobble of real traffic for a change) and ``q_value`` at most ``config.alpha``;
    consecutive flagged windows are one finding (:func:`_merge_runs`); severity ``high``
    at ``config.js_high_factor`` (twice) the threshold, else ``medium``; unflagged rows
    are ``info``. ``details`` names the three categories whose share moved most.

    Parameters
    ----------
    assignments
        ``conversation_id``, ``key_col`` (null: the category :data:`UNASSIGNED`), and
        ``group_col`` when given; a true ``is_outlier`` also means unassigned.
    conversations
        ``conversation_id, started_at``; conversations without a start are left out.
    config
        ``window``, ``baseline_windows``, ``min_count``, ``alpha``, ``js_threshold``,
        ``js_high_factor``, ``permutations`` (draws per test) and ``seed`` (which makes
        p-values reproducible).
    kind
        The finding kind written (``intent_mix``, ``variant_mix``).
    key_col, group_col
        The category column and the column of independent groups (workflows).
    labels
        Readable names of categories (an intent's label), used in sentences.
    rare_share
        Categories below this share of their group pool into ``other_label``.

    Returns
    -------
    polars.DataFrame
        :data:`DRIFT_FINDINGS_SCHEMA`, one row per tested (group, window), sorted by
        group and window; ``workflow_id`` is the group.

    Raises
    ------
    SchemaError
        A required column is missing.
    """
    what = f"drift ({kind})"
    require_columns(assignments, ["conversation_id", key_col] + ([group_col] if group_col else []),
                    table="assignments", what=what)  # fmt: skip
    unassigned = pl.col(key_col).is_null()
    if "is_outlier" in assignments.columns:
        unassigned = unassigned | pl.col("is_outlier").fill_null(False)
    group = pl.col(group_col).cast(pl.String) if group_col else pl.lit(None, pl.String)
    frame = assignments.select(
        "conversation_id",
        _group=group,
        _cat=pl.when(unassigned)
        .then(pl.lit(UNASSIGNED))
        .otherwise(pl.col(key_col).cast(pl.String)),
    ).unique(["conversation_id", "_group"], keep="last", maintain_order=True)
    frame = windowed(frame, conversations, window=config.window, what=what)
    if rare_share > 0:
        share = pl.len().over("_group", "_cat") / pl.len().over("_group")
        frame = frame.with_columns(
            _cat=pl.when(share < rare_share).then(pl.lit(other_label)).otherwise("_cat")
        )
    counts = frame.group_by("_group", "_window", "_cat").len().sort("_group", "_window", "_cat")
    rng = np.random.default_rng(config.seed)
    rows = []
    for (group_id,), part in counts.group_by("_group", maintain_order=True):
        rows += _mix_rows(part, group_id, config=config, kind=kind, key_col=key_col,
                          labels=labels or {}, rng=rng)  # fmt: skip
    for row, q in zip(rows, bh_adjust([r["p_value"] for r in rows]), strict=True):
        _judge_mix(row, q, config=config)
    return findings_frame(_merge_runs(rows))


def _merge_runs(rows: list[dict]) -> list[dict]:
    """One finding per run of consecutive flagged tested windows of a group.

    Each window of a run stays as an unflagged ``info`` row (``details.window_flagged``,
    its sentence naming the finding): the series. The finding is one more row, flagged:
    the run's last (current) window's figures and sentence, from the run's onset
    (``window_start``) to its last window's end, the run's most severe severity, and
    ``details.series`` and ``n_windows``. ``rows`` are in group and window order, as
    :func:`_mix_rows` gives them.
    """
    rank = {severity: i for i, severity in enumerate(SEVERITIES)}
    out: list[dict] = []
    run: list[dict] = []

    def close() -> None:
        if len(run) > 1:
            last, onset = run[-1], run[0]["window_start"]
            details = json.loads(last["details"]) | {
                "n_windows": len(run),
                "series": [{"window_start": r["window_start"].isoformat(),
                            "js_distance": round(r["rate"], 4)} for r in run],
            }  # fmt: skip
            finding = last | {
                "window_start": onset,
                "severity": min((r["severity"] for r in run), key=rank.__getitem__),
                "details": json.dumps(details),
                "sentence": f"Since {onset.isoformat()}: {last['sentence'][0].lower()}"
                            f"{last['sentence'][1:]}",
            }  # fmt: skip
            for row in run:
                row["finding_id"] = finding_id({**row, "kind": f"{row['kind']}|window"})
                row["sentence"] += f" Part of the finding since {onset.isoformat()}."
                row["flagged"], row["severity"] = False, "info"
                row["details"] = json.dumps(json.loads(row["details"]) | {"window_flagged": True})
            out.append(finding)
        run.clear()

    for row in rows:
        if run and (not row["flagged"] or row["workflow_id"] != run[-1]["workflow_id"]):
            close()
        if row["flagged"]:
            run.append(row)
        out.append(row)
    close()
    return out


def _mix_rows(
    counts: pl.DataFrame,
    group_id: str | None,
    *,
    config: DriftConfig,
    kind: str,
    key_col: str,
    labels: Mapping[str, str],
    rng: np.random.Generator,
) -> list[dict]:
    """Test each window of one group; rows without q, flag or sentence yet."""
    windows = counts["_window"].unique().sort().to_list()
    cats = counts["_cat"].unique().sort().to_list()
    matrix = np.zeros((len(windows), len(cats)), dtype=np.int64)
    w_of = {w: i for i, w in enumerate(windows)}
    c_of = {c: i for i, c in enumerate(cats)}
    for w, c, n in counts.select("_window", "_cat", "len").iter_rows():
        matrix[w_of[w], c_of[c]] = n
    k = config.baseline_windows
    base = matrix[:k].sum(axis=0)
    if len(windows) <= k or base.sum() < config.min_count:
        return []
    sizes = matrix.sum(axis=1)
    full = [i for i in range(min(k, len(windows))) if sizes[i] >= config.min_count]
    noise = [float(js_distance(matrix[i], base - matrix[i])) for i in full] if len(full) > 1 else []
    rows = []
    for i in range(k, len(windows)):
        if sizes[i] < config.min_count:
            continue
        observed = float(js_distance(matrix[i], base))
        pooled = matrix[i] + base
        drawn = rng.multivariate_hypergeometric(pooled, int(sizes[i]), size=config.permutations)
        null = js_distance(drawn, pooled - drawn)
        before, after = base / base.sum(), matrix[i] / sizes[i]
        order = sorted(range(len(cats)), key=lambda j: (-abs(after[j] - before[j]), cats[j]))
        moved = [{"category": cats[j], "label": labels.get(cats[j]),
                  "share_before": round(float(before[j]), 4),
                  "share_after": round(float(after[j]), 4)} for j in order[:3]]  # fmt: skip
        rows.append({
            "kind": kind, "workflow_id": group_id, "metric": "js_distance",
            "window_start": windows[i],
            "rate": observed, "baseline": float(np.mean(noise)) if noise else 0.0,
            "n": int(sizes[i]), "n_baseline": int(base.sum()),
            "p_value": permutation_p_value(observed, null),
            "_noun": "intent" if key_col == "intent_id" else key_col.removesuffix("_id"),
            "_moved": moved, "_window_name": config.window,
        })  # fmt: skip
    for row in rows:
        row["window_end"] = window_end_date(row["window_start"], config.window)
    return rows


def _judge_mix(row: dict, q: float, *, config: DriftConfig) -> None:
    """Set q, flag, severity, sentence and details of a mix row (in place; our own dict)."""
    js, threshold = row["rate"], config.js_threshold
    row["q_value"] = q
    row["flagged"] = bool(js >= threshold and js > row["baseline"] and q <= config.alpha)
    high = js >= config.js_high_factor * threshold
    row["severity"] = ("high" if high else "medium") if row["flagged"] else "info"
    moved, noun = row.pop("_moved"), row.pop("_noun")
    subject = f"the {noun} mix" + (f" of {row['workflow_id']}" if row["workflow_id"] else "")
    when = window_phrase(row["window_start"], row.pop("_window_name"))
    if row["flagged"]:
        changes = " and ".join(_moved_words(m, noun) for m in moved[:2])
        row["sentence"] = (
            f"{when[0].upper()}{when[1:]}, {subject} moved away from the baseline "
            f"(Jensen-Shannon distance {js:.2f}): {changes}."
        )
    else:
        reason = (f"below the threshold of {threshold:g}" if js < threshold
                  else f"within the baseline weeks' own variation ({row['baseline']:.2f})"
                  if js <= row["baseline"]
                  else f"not significant after correction, q = {q:.2f}")  # fmt: skip
        row["sentence"] = (
            f"{when[0].upper()}{when[1:]}, {subject} stayed near the baseline "
            f"(Jensen-Shannon distance {js:.2f}, {reason})."
        )
    row["details"] = json.dumps({"moved": moved, "js_divergence": round(js * js, 4)})


def _moved_words(moved: Mapping, noun: str) -> str:
    """Say how a category moved: ``the intent 'points' (i017) grew from 0% to 9% of ...``.

    Named by its label, the id only in brackets (an intent or variant without a label
    goes by its id).
    """
    cat, label = moved["category"], moved["label"]
    if cat in (UNASSIGNED, OTHER_VARIANTS, "other"):
        name = f"'{cat}'"
    else:
        name = f"the {noun} '{label}' ({cat})" if label else f"{noun} {cat}"
    verb = "grew" if moved["share_after"] >= moved["share_before"] else "shrank"
    return (f"{name} {verb} from {moved['share_before']:.0%} to {moved['share_after']:.0%} "
            "of conversations")  # fmt: skip


def find_variant_mix_drift(
    conformance: pl.DataFrame,
    conversations: pl.DataFrame,
    *,
    config: DriftConfig,
    variants: pl.DataFrame | None = None,
    step_names: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Test each workflow's variant mix per window (kind ``variant_mix``).

    Reads ``conformance`` (the latest SOP version per conversation), ``conversations``
    and optionally ``variants`` (for readable names: the first six steps, each by its
    name in ``step_names`` where it has one, else its id); :func:`find_mix_drift` per
    workflow, a workflow being the SOP. Variants below ``config.variant_rare_share`` of
    their workflow pool into :data:`OTHER_VARIANTS`, so a long tail of one-off variants
    does not read as drift.

    Returns
    -------
    polars.DataFrame
        :data:`DRIFT_FINDINGS_SCHEMA` rows with ``sop_id`` and ``workflow_id`` the SOP.
    """
    what = "drift (variant_mix)"
    require_columns(conformance, ("conversation_id", "sop_id", "variant_id"), table="conformance",
                    what=what)  # fmt: skip
    version = pl.col("version") if "version" in conformance.columns else pl.lit(0)
    latest = (
        conformance.select("conversation_id", "sop_id", "variant_id", _v=version)
        .sort("conversation_id", "sop_id", "_v")
        .unique(["conversation_id", "sop_id"], keep="last", maintain_order=True)
        .rename({"sop_id": "workflow_id"})
    )
    labels = {}
    if variants is not None and not variants.is_empty():
        more = (
            pl.when(pl.col("sequence").list.len() > 6).then(pl.lit(" > ...")).otherwise(pl.lit(""))
        )
        names = dict(step_names or {})
        steps = (
            pl.col("sequence")
            .list.head(6)
            .list.eval(pl.element().replace(names) if names else pl.element())
        )
        named = variants.select("variant_id", _label=steps.list.join(" > ") + more)
        labels = dict(named.iter_rows())
    found = find_mix_drift(
        latest, conversations, config=config, kind="variant_mix", key_col="variant_id",
        group_col="workflow_id", labels=labels, rare_share=config.variant_rare_share,
        other_label=OTHER_VARIANTS,
    )  # fmt: skip
    return found.with_columns(sop_id=pl.col("workflow_id"))
