-- Drift findings, most urgent first: flagged findings (significant after the
-- false-discovery-rate correction and large enough to matter) before the rest, then
-- by severity, then by q-value. `priority` is that order as a number (1 = first).
-- A flagged row is one finding: a deviation of a workflow step (or mix) for all
-- conversations or one team / agent hash, its run of consecutive flagged windows merged
-- (window_start is the onset, rate the current window's, details holds the weekly
-- series and, for a team's part of a workflow's deviation, its parent finding). An
-- unflagged row is one tested window against the workflow's baseline windows.
create or replace view drift_findings_ranked as
with

findings as (
    select
        finding_id, kind, sop_id, workflow_id, step, team, agent_hash, window_start,
        window_end, rate, baseline, n, n_baseline, p_value, q_value, flagged, metric,
        outcome_deviating, outcome_conforming, outcome_delta, ci_low, ci_high, severity,
        sentence, details, run_id
    from drift_findings
),

ranked as (
    select
        *,
        case severity when 'high' then 1 when 'medium' then 2 when 'low' then 3 else 4 end
            as severity_rank
    from findings
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
    details, finding_id, run_id
from final
order by priority
