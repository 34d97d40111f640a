"""Table and column contracts of the DuckDB store.

Column names are constants here so that stages, views and tests agree. The DDL that
creates the tables, version by version, is in :mod:`pipeline.migrations`. Keys are
enforced by the writer (``store.py``), not by DuckDB constraints: DuckDB's ART indexes
slow bulk inserts and reject delete-then-insert of the same key in one transaction.
"""

from __future__ import annotations

# Tables
RUNS = "runs"
SOURCES = "sources"
QUARANTINE = "quarantine"
CONVERSATIONS = "conversations"
TURNS = "turns"
REDACTIONS = "redactions"
EMBEDDINGS = "embeddings"
INTENT_MODELS = "intent_models"
INTENTS = "intents"
INTENT_ASSIGNMENTS = "intent_assignments"
INTENT_LINEAGE = "intent_lineage"
STEP_TYPES = "step_types"
STEP_EVENTS = "step_events"
VARIANTS = "variants"
DFG_EDGES = "dfg_edges"
CANDIDATE_SOPS = "candidate_sops"
SOPS = "sops"
OUTCOMES = "outcomes"
CONFORMANCE = "conformance"
DRIFT_FINDINGS = "drift_findings"
DRIFT_EXAMPLES = "drift_examples"
READINESS = "readiness"
READINESS_EXAMPLES = "readiness_examples"
SCHEMA_VERSION = "schema_version"

SPEAKERS = ("customer", "agent", "bot", "system")
EVENT_TYPES = ("utterance", "action")
ACTION_STATUSES = ("ok", "failed")  # of an action event; null: unknown
RUN_STATUSES = ("running", "ok", "failed")
OUTCOME_VALUES = ("resolved", "escalated", "transferred", "abandoned", "unknown")
OUTCOME_SOURCES = ("data", "derived")
DRIFT_KINDS = (
    "missing",  # a mandatory step skipped more often than in the baseline
    "skipped",  # an optional documented step left out more often than in the baseline
    "order_violation",  # a step done before one it must follow, more often
    "undocumented",  # a step not in the SOP, more often
    "gate_skipped",  # an approval gate skipped while its condition held
    "outcome_impact",  # deviating conversations fare worse (or better) than conforming ones
    "intent_mix",  # the share of intents moved between windows (Jensen-Shannon)
    "variant_mix",  # the variant distribution of a workflow moved (Jensen-Shannon)
    "conformance_change",  # a change point in a workflow's weekly conformance
    "exception_cluster",  # a recurring undocumented sub-flow, named by its text
)
SEVERITIES = ("high", "medium", "low", "info")
TIERS = ("autonomous", "agent with human approval", "human-led")
SOURCE_STATUSES = ("ok", "partial", "unreadable")

# Columns of each table, in order. Every analytic table carries run_id.
COLUMNS: dict[str, tuple[str, ...]] = {
    RUNS: (
        "run_id",
        "flow",
        "started_at",
        "finished_at",
        "status",
        "config_hash",
        "code_version",
        "inputs",
        "row_counts",
        "error",
    ),
    SOURCES: (
        "source_id",
        "path",
        "sha256",
        "format",
        "status",
        "error",
        "n_records",
        "n_loaded",
        "n_unchanged",
        "n_replaced",
        "n_quarantined",
        "run_id",
        "ingested_at",
    ),
    QUARANTINE: (
        "source_id",
        "locator",
        "conversation_id",
        "field",
        "reason",
        "message",
        "raw",
        "run_id",
    ),
    CONVERSATIONS: (
        "conversation_id",
        "source_id",
        "locator",
        "channel",
        "queue",
        "team",
        "agent_hash",
        "customer_hash",
        "started_at",
        "ended_at",
        "outcome",
        "metadata",
        "n_turns",
        "content_hash",
        "run_id",
    ),
    TURNS: (
        "conversation_id",
        "turn_idx",
        "speaker",
        "event_type",
        "text",
        "action_name",
        "args",
        "ts",
        "run_id",
        "action_status",
    ),
    REDACTIONS: ("conversation_id", "turn_idx", "pii_type", "n", "run_id"),
    EMBEDDINGS: ("text_hash", "model_id", "vector", "run_id"),
    INTENT_MODELS: ("model_version", "fitted_at", "n_fit", "params", "model", "run_id"),
    INTENTS: (
        "intent_id",
        "model_version",
        "label",
        "terms",
        "exemplar",
        "size",
        "share",
        "first_seen",
        "last_seen",
        "recent_share",
        "is_emerging",
        "centroid",
        "run_id",
        "family_id",
        "family_label",
    ),
    INTENT_ASSIGNMENTS: (
        "conversation_id",
        "intent_id",
        "probability",
        "is_outlier",
        "method",
        "unit_hash",
        "model_version",
        "run_id",
    ),
    INTENT_LINEAGE: (
        "model_version",
        "event",
        "intent_id",
        "related_intent_id",
        "n_conversations",
        "similarity",
        "run_id",
    ),
    STEP_TYPES: (
        "step_id",
        "label",
        "source",
        "sop_id",
        "exemplar",
        "n_events",
        "run_id",
        "sop_steps",
    ),
    STEP_EVENTS: (
        "conversation_id",
        "seq",
        "turn_idx",
        "step_id",
        "source",
        "confidence",
        "ts",
        "sop_id",
        "workflow_id",
        "is_repeat",
        "run_id",
    ),
    VARIANTS: ("workflow_id", "variant_id", "sequence", "n", "share", "rank", "run_id"),
    DFG_EDGES: ("workflow_id", "src", "dst", "n", "share", "median_gap_s", "run_id"),
    CANDIDATE_SOPS: (
        "workflow_id",
        "step",
        "support",
        "n_conversations",
        "role",
        "position",
        "after",
        "branches",
        "run_id",
    ),
    SOPS: ("sop_id", "version", "intent", "n_steps", "yaml", "content_hash", "path", "run_id"),
    OUTCOMES: (
        "conversation_id",
        "workflow_id",
        "outcome",
        "outcome_source",
        "escalated",
        "resolved",
        "repeat_contact",
        "repeat_gap_days",
        "n_agent_turns",
        "failed_actions",
        "duration_s",
        "run_id",
    ),
    CONFORMANCE: (
        "conversation_id",
        "sop_id",
        "version",
        "variant_id",
        "fitness",
        "missing",
        "undocumented",
        "order_violations",
        "skipped_gates",
        "is_conforming",
        "run_id",
        "skipped",
    ),
    DRIFT_FINDINGS: (
        "finding_id",
        "kind",
        "sop_id",
        "workflow_id",
        "step",
        "team",
        "agent_hash",
        "window_start",
        "window_end",
        "rate",
        "baseline",
        "n",
        "n_baseline",
        "p_value",
        "q_value",
        "flagged",
        "metric",
        "outcome_deviating",
        "outcome_conforming",
        "outcome_delta",
        "ci_low",
        "ci_high",
        "severity",
        "sentence",
        "details",
        "run_id",
    ),
    READINESS: (
        "workflow_id",
        "intent_id",
        "sop_id",
        "label",
        "rank",
        "n_conversations",
        "score",
        "low",
        "high",
        "tier",
        "gates",
        "components",
        "reasons",
        "rank_stability",
        "playbook_source",
        "playbook",
        "run_id",
    ),
    # the conversations behind a flagged drift finding: 2-3 per finding, rank 1 first;
    # excerpt is JSON text, a list of {turn_idx, speaker, text, highlight}
    DRIFT_EXAMPLES: (
        "finding_id",
        "kind",
        "workflow_id",
        "step",
        "rank",
        "conversation_id",
        "turn_idx",
        "why",
        "excerpt",
        "run_id",
    ),
    # the conversations behind a readiness reason (component) of the run's ranking
    READINESS_EXAMPLES: (
        "workflow_id",
        "component",
        "rank",
        "conversation_id",
        "turn_idx",
        "why",
        "excerpt",
        "run_id",
    ),
}


def batch_columns(table: str) -> list[str]:
    """Columns of ``table`` that a stage fills; the store stamps ``run_id`` on write."""
    return [c for c in COLUMNS[table] if c != "run_id"]


# Text columns that may carry free text and are scanned for leaks in tests.
FREE_TEXT_COLUMNS: dict[str, tuple[str, ...]] = {
    QUARANTINE: ("message", "raw"),
    CONVERSATIONS: ("metadata",),
    TURNS: ("text", "args"),
    INTENTS: ("label", "exemplar", "family_label"),
    STEP_TYPES: ("label", "exemplar"),
    DRIFT_FINDINGS: ("sentence", "details"),
    READINESS: ("label", "reasons", "playbook"),
    DRIFT_EXAMPLES: ("why", "excerpt"),
    READINESS_EXAMPLES: ("why", "excerpt"),
}
