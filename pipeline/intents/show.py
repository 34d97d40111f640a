"""Plain-text tables of the intents: largest first, or as families with intents inside.

Both format what :func:`pipeline.intents.run.read_intents` returns.
"""

from __future__ import annotations

from typing import Any


def format_intents(report: dict[str, Any], *, width: int = 60) -> str:
    """Format :func:`read_intents` output as a plain-text table."""
    lines = [
        f"intents of run {report['run_id']} (model v{report['model_version']}): "
        f"{len(report['intents'])} intents, {report['conversations']} conversations, "
        f"{report['unassigned']} unassigned",
        f"{'id':<6} {'size':>6} {'share':>6}  {'label':<32} exemplar",
    ]
    for row in report["intents"]:
        exemplar = " ".join((row["exemplar"] or "").split())
        if len(exemplar) > width:
            exemplar = exemplar[: width - 3] + "..."
        flag = f"  [emerging since {row['first_seen']:%Y-%m-%d}]" if row["is_emerging"] else ""
        lines.append(
            f"{row['intent_id']:<6} {row['size']:>6} {row['share']:>6.1%}  "
            f"{row['label'][:32]:<32} {exemplar}{flag}"
        )
    return "\n".join(lines)


def format_intent_tree(report: dict[str, Any], *, width: int = 56) -> str:
    """Format :func:`read_intents` output as families with their intents folded inside."""
    families: dict[str, list[dict[str, Any]]] = {}
    for row in report["intents"]:
        families.setdefault(row["family_id"], []).append(row)
    ranked = sorted(families.items(), key=lambda kv: (-sum(r["size"] for r in kv[1]), kv[0]))
    lines = [
        f"intent families of run {report['run_id']} (model v{report['model_version']}): "
        f"{len(ranked)} families, {len(report['intents'])} intents, "
        f"{report['conversations']} conversations, {report['unassigned']} unassigned"
    ]
    for family_id, rows in ranked:
        size = sum(r["size"] for r in rows)
        share = sum(r["share"] for r in rows)
        lines.append(f"{family_id:<6} {size:>6} {share:>6.1%}  {rows[0]['family_label']}")
        for row in rows:
            exemplar = " ".join((row["exemplar"] or "").split())
            if len(exemplar) > width:
                exemplar = exemplar[: width - 3] + "..."
            flag = "  [emerging]" if row["is_emerging"] else ""
            lines.append(
                f"  {row['intent_id']:<6} {row['size']:>6} {row['share']:>6.1%}  "
                f"{row['label'][:28]:<28} {exemplar}{flag}"
            )
    return "\n".join(lines)
