"""Forward migrations of the DuckDB store: the DDL of each schema version, in order.

``MIGRATIONS`` maps a version to the statements that bring a database from the version
before it; :meth:`pipeline.store.Store.migrate` applies the missing ones in one
transaction. The tables' names and columns are the contracts in :mod:`pipeline.schema`.
"""

from __future__ import annotations

from pipeline.schema import (
    CANDIDATE_SOPS,
    CONFORMANCE,
    CONVERSATIONS,
    DFG_EDGES,
    DRIFT_EXAMPLES,
    DRIFT_FINDINGS,
    EMBEDDINGS,
    INTENT_ASSIGNMENTS,
    INTENT_LINEAGE,
    INTENT_MODELS,
    INTENTS,
    OUTCOMES,
    QUARANTINE,
    READINESS,
    READINESS_EXAMPLES,
    REDACTIONS,
    RUNS,
    SOPS,
    SOURCES,
    STEP_EVENTS,
    STEP_TYPES,
    TURNS,
    VARIANTS,
)

_V1 = [
    f"""create table {RUNS} (
        run_id varchar not null,
        flow varchar not null,
        started_at timestamptz not null,
        finished_at timestamptz,
        status varchar not null,
        config_hash varchar not null,
        code_version varchar not null,
        inputs json,
        row_counts json,
        error varchar
    )""",
    f"""create table {SOURCES} (
        source_id varchar not null,
        path varchar not null,
        sha256 varchar,
        format varchar,
        status varchar not null,
        error varchar,
        n_records bigint not null,
        n_loaded bigint not null,
        n_unchanged bigint not null,
        n_replaced bigint not null,
        n_quarantined bigint not null,
        run_id varchar not null,
        ingested_at timestamptz not null
    )""",
    f"""create table {QUARANTINE} (
        source_id varchar not null,
        locator varchar not null,
        conversation_id varchar,
        field varchar,
        reason varchar not null,
        message varchar not null,
        raw varchar,
        run_id varchar not null
    )""",
    f"""create table {CONVERSATIONS} (
        conversation_id varchar not null,
        source_id varchar not null,
        locator varchar not null,
        channel varchar,
        queue varchar,
        team varchar,
        agent_hash varchar,
        customer_hash varchar,
        started_at timestamptz,
        ended_at timestamptz,
        outcome varchar,
        metadata json,
        n_turns integer not null,
        content_hash varchar not null,
        run_id varchar not null
    )""",
    f"""create table {TURNS} (
        conversation_id varchar not null,
        turn_idx integer not null,
        speaker varchar not null,
        event_type varchar not null,
        text varchar,
        action_name varchar,
        args json,
        ts timestamptz,
        run_id varchar not null
    )""",
    f"""create table {REDACTIONS} (
        conversation_id varchar not null,
        turn_idx integer not null,
        pii_type varchar not null,
        n integer not null,
        run_id varchar not null
    )""",
]

# v2: the embedding cache, keyed by (normalised text hash, model id).
_V2 = [
    f"""create table {EMBEDDINGS} (
        text_hash varchar not null,
        model_id varchar not null,
        vector float[] not null,
        run_id varchar not null
    )""",
]

# v3: intents. ``intent_models`` keeps every fitted model (pickled reducer, clusterer,
# centroids and ids) by version; ``intent_assignments`` is a snapshot (one row per
# conversation, rewritten by each run); ``intents`` and ``intent_lineage`` keep history.
_V3 = [
    f"""create table {INTENT_MODELS} (
        model_version integer not null,
        fitted_at timestamptz not null,
        n_fit integer not null,
        params json not null,
        model blob not null,
        run_id varchar not null
    )""",
    f"""create table {INTENTS} (
        intent_id varchar not null,
        model_version integer not null,
        label varchar not null,
        terms varchar[] not null,
        exemplar varchar,
        size integer not null,
        share double not null,
        first_seen timestamptz,
        last_seen timestamptz,
        recent_share double,
        is_emerging boolean not null,
        centroid float[] not null,
        run_id varchar not null
    )""",
    f"""create table {INTENT_ASSIGNMENTS} (
        conversation_id varchar not null,
        intent_id varchar,
        probability double,
        is_outlier boolean not null,
        method varchar not null,
        unit_hash varchar,
        model_version integer,
        run_id varchar not null
    )""",
    f"""create table {INTENT_LINEAGE} (
        model_version integer not null,
        event varchar not null,
        intent_id varchar,
        related_intent_id varchar,
        n_conversations integer not null,
        similarity double,
        run_id varchar not null
    )""",
]

# v4: steps and process discovery. Snapshots, rewritten whole by each steps run.
# ``step_events`` has one row per agent turn and action event (``is_repeat`` marks a
# consecutive repeat, which the process tables leave out); ``workflow_id`` is the
# conversation's documented SOP where one applies, else its intent id.
_V4 = [
    f"""create table {STEP_TYPES} (
        step_id varchar not null,
        label varchar not null,
        source varchar not null,
        sop_id varchar,
        exemplar varchar,
        n_events integer not null,
        run_id varchar not null
    )""",
    f"""create table {STEP_EVENTS} (
        conversation_id varchar not null,
        seq integer not null,
        turn_idx integer,
        step_id varchar not null,
        source varchar not null,
        confidence double,
        ts timestamptz,
        sop_id varchar,
        workflow_id varchar,
        is_repeat boolean not null,
        run_id varchar not null
    )""",
    f"""create table {VARIANTS} (
        workflow_id varchar,
        variant_id varchar not null,
        sequence varchar[] not null,
        n integer not null,
        share double not null,
        rank integer not null,
        run_id varchar not null
    )""",
    f"""create table {DFG_EDGES} (
        workflow_id varchar,
        src varchar not null,
        dst varchar not null,
        n integer not null,
        share double not null,
        median_gap_s double,
        run_id varchar not null
    )""",
    f"""create table {CANDIDATE_SOPS} (
        workflow_id varchar,
        step varchar not null,
        support double not null,
        n_conversations integer not null,
        role varchar not null,
        position double,
        after varchar[] not null,
        branches varchar[] not null,
        run_id varchar not null
    )""",
]

# v5: the SOP library as loaded, outcomes, conformance, drift and readiness. Snapshots
# rewritten by each run, except ``readiness``, which keeps every run's ranking (keyed
# by run_id) so that leaders can follow a workflow's score over time.
_V5 = [
    # the SOP steps a step type stands for (several when SOPs share a step; none for a
    # generic greeting or closing)
    f"alter table {STEP_TYPES} add column sop_steps varchar[]",
    f"""create table {SOPS} (
        sop_id varchar not null,
        version integer not null,
        intent varchar[] not null,
        n_steps integer not null,
        yaml varchar not null,
        content_hash varchar not null,
        path varchar,
        run_id varchar not null
    )""",
    f"""create table {OUTCOMES} (
        conversation_id varchar not null,
        workflow_id varchar,
        outcome varchar not null,
        outcome_source varchar not null,
        escalated boolean not null,
        resolved boolean not null,
        repeat_contact boolean not null,
        repeat_gap_days double,
        n_agent_turns integer not null,
        duration_s double,
        run_id varchar not null
    )""",
    f"""create table {CONFORMANCE} (
        conversation_id varchar not null,
        sop_id varchar not null,
        version integer not null,
        variant_id varchar not null,
        fitness double not null,
        missing varchar[] not null,
        undocumented varchar[] not null,
        order_violations varchar[] not null,
        skipped_gates varchar[] not null,
        is_conforming boolean not null,
        run_id varchar not null
    )""",
    f"""create table {DRIFT_FINDINGS} (
        finding_id varchar not null,
        kind varchar not null,
        sop_id varchar,
        workflow_id varchar,
        step varchar,
        team varchar,
        agent_hash varchar,
        window_start date,
        window_end date,
        rate double,
        baseline double,
        n integer,
        n_baseline integer,
        p_value double,
        q_value double,
        flagged boolean not null,
        metric varchar,
        outcome_deviating double,
        outcome_conforming double,
        outcome_delta double,
        ci_low double,
        ci_high double,
        severity varchar not null,
        sentence varchar not null,
        details json,
        run_id varchar not null
    )""",
    f"""create table {READINESS} (
        workflow_id varchar not null,
        intent_id varchar,
        sop_id varchar,
        label varchar,
        rank integer not null,
        n_conversations integer not null,
        score double not null,
        low double not null,
        high double not null,
        tier varchar not null,
        gates varchar[] not null,
        components json not null,
        reasons varchar[] not null,
        rank_stability double,
        playbook_source varchar,
        playbook varchar,
        run_id varchar not null
    )""",
]

# v6: whether a system action (tool / API call) failed. ``turns.action_status`` is "ok",
# "failed" or null (unknown; every turn stored before v6). A status that reached the
# database before v6 sits in the conversation's ``metadata.turn_fields`` (the place of
# unknown turn fields then): it is copied over, since re-ingesting the unchanged file
# would not replace the conversation. ``outcomes`` is a snapshot that each drift run
# rewrites whole, and rows computed before v6 cannot know ``failed_actions``: it is
# recreated (empty until the next run) with the column beside ``n_agent_turns``.
_V6 = [
    f"alter table {TURNS} add column action_status varchar",
    f"""update {TURNS} t set action_status = s.status
    from (
        select t2.conversation_id, t2.turn_idx, lower(trim(json_extract_string(c.metadata,
            '$.turn_fields."' || t2.turn_idx || '".status'))) as status
        from {TURNS} t2 join {CONVERSATIONS} c using (conversation_id)
        where t2.event_type = 'action' and json_exists(c.metadata, '$.turn_fields')
    ) s
    where t.conversation_id = s.conversation_id and t.turn_idx = s.turn_idx
        and s.status in ('ok', 'failed')""",
    f"drop table {OUTCOMES}",
    f"""create table {OUTCOMES} (
        conversation_id varchar not null,
        workflow_id varchar,
        outcome varchar not null,
        outcome_source varchar not null,
        escalated boolean not null,
        resolved boolean not null,
        repeat_contact boolean not null,
        repeat_gap_days double,
        n_agent_turns integer not null,
        failed_actions integer not null,
        duration_s double,
        run_id varchar not null
    )""",
]

# v7: the two-level taxonomy. Each intent row names its family (its smallest intent's id
# with F for the letter) and the family's key phrase; rows written before v7 stay null.
_V7 = [
    f"alter table {INTENTS} add column family_id varchar",
    f"alter table {INTENTS} add column family_label varchar",
]

# Forward migrations: version -> statements. Append, never edit a released entry.
_V8 = [
    # the optional documented steps a conversation did not perform (drift tracks every step)
    f"alter table {CONFORMANCE} add column skipped varchar[]",
]

# v9: the conversations behind each flagged drift finding and each readiness reason
# (evidence examples). Snapshots, rewritten whole by the drift and readiness stages;
# ``excerpt`` is JSON text: the highlighted turn and its neighbours, redacted text.
_V9 = [
    f"""create table {DRIFT_EXAMPLES} (
        finding_id varchar not null,
        kind varchar not null,
        workflow_id varchar,
        step varchar,
        rank integer not null,
        conversation_id varchar not null,
        turn_idx integer not null,
        why varchar not null,
        excerpt json not null,
        run_id varchar not null
    )""",
    f"""create table {READINESS_EXAMPLES} (
        workflow_id varchar not null,
        component varchar not null,
        rank integer not null,
        conversation_id varchar not null,
        turn_idx integer not null,
        why varchar not null,
        excerpt json not null,
        run_id varchar not null
    )""",
]

MIGRATIONS: dict[int, list[str]] = {1: _V1, 2: _V2, 3: _V3, 4: _V4, 5: _V5, 6: _V6, 7: _V7, 8: _V8,
                                    9: _V9}  # fmt: skip
LATEST_VERSION = max(MIGRATIONS)
