-- Autonomy-readiness ranking of the latest readiness run: which workflows an AI agent
-- could run end to end (autonomous), which need a human approval gate, and which stay
-- human-led. score is 0-100 with a bootstrap interval [low, high]; reasons are the
-- drivers in words; components is JSON (per component its value 0..1, weight,
-- contribution in score points and a detail); playbook is the documented SOP's YAML or
-- the mined draft (playbook_source). `readiness` keeps every run; run ids sort by start
-- time, so the greatest run id is the latest ranking.
create or replace view readiness_leaderboard as
with

readiness_runs as (
    select
        workflow_id, intent_id, sop_id, label, rank, n_conversations, score, low, high,
        tier, gates, components, reasons, rank_stability, playbook_source, playbook, run_id
    from readiness
),

final as (
    select *
    from readiness_runs
    where run_id = (select max(run_id) from readiness_runs)
)

select
    rank, workflow_id, intent_id, sop_id, label, tier, score, low, high, n_conversations,
    reasons, gates, rank_stability, components, playbook_source, playbook, run_id
from final
order by rank, workflow_id
