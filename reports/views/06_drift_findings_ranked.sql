-- Drift findings, most urgent first: flagged findings (significant after the
-- false-discovery-rate correction and large enough to matter) before the rest, then
-- by severity, then by q-value. `priority` is that order as a number (1 = first).
-- A flagged row is one finding: a deviation of a workflow step (or mix) for all
-- conversations or one team / agent hash, its run of consecutive flagged windows merged
-- (window_start is the onset, rate the current window's, details holds the weekly
-- series and, for a team's part of a workflow's deviation, its parent finding). An
-- unflagged row is one tested window against the workflow's baseline windows.
-- `step_label` names a step found in the data (no SOP's) or an exception cluster by its
-- key phrase (null for a documented step: its id is its name); `workflow_label` names a
-- workflow with no documented SOP (an intent) by its intent's label.
create or replace view drift_findings_ranked as
with

step_names as (
    select step_id, label
    from step_types
    where source = 'discovered' and label is not null and label <> step_id
),

intent_names as (
    select intent_id, label
    from intents
    where run_id = (select max(run_id) from intents)
),

findings as (
    select
        finding_id, kind, sop_id, workflow_id, step, team, agent_hash, window_start,
        window_end, rate, baseline, n, n_baseline, p_value, q_value, flagged, metric,
        outcome_deviating, outcome_conforming, outcome_delta, ci_low, ci_high, severity,
        sentence, details, run_id
    from drift_findings
),

labelled as (
    select
        f.*,
        coalesce(
            s.label,
            case when f.kind = 'exception_cluster'
                then json_extract_string(f.details, '$.label') end
        ) as step_label,
        i.label as workflow_label
    from findings f
    left join step_names s on s.step_id = f.step
    left join intent_names i on i.intent_id = f.workflow_id
),

ranked as (
    select
        *,
        case severity when 'high' then 1 when 'medium' then 2 when 'low' then 3 else 4 end
            as severity_rank
    from labelled
),

final as (
    select
        row_number() over (
            order by flagged desc, severity_rank, q_value nulls last, finding_id
        ) as priority,
        *
    from ranked
)

select
    priority, flagged, severity, kind, sop_id, workflow_id, step, team, agent_hash,
    window_start, window_end, rate, baseline, n, n_baseline, p_value, q_value, metric,
    outcome_deviating, outcome_conforming, outcome_delta, ci_low, ci_high, sentence,
    details, finding_id, run_id, step_label, workflow_label
from final
order by priority
