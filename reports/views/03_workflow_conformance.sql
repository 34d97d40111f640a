-- How closely each documented workflow (SOP version) is followed, and how its
-- conversations end. A conversation conforms when it has no missing mandatory step,
-- no order violation, no skipped approval gate and no undocumented process step
-- (conversation management never counts); fitness is 0..1 per conversation.
-- Outcome rates are over the conversations that have an outcome row.
create or replace view workflow_conformance as
with

conformance_rows as (
    select
        conversation_id, sop_id, version, variant_id, fitness, missing, undocumented,
        order_violations, skipped_gates, is_conforming
    from conformance
),

outcome_rows as (
    select conversation_id, resolved, escalated, repeat_contact
    from outcomes
),

per_workflow as (
    select
        c.sop_id,
        c.version,
        count(*) as n_conversations,
        count(*) filter (where c.is_conforming) as n_conforming,
        avg(c.fitness) as mean_fitness,
        avg(case when len(c.missing) > 0 then 1.0 else 0.0 end) as missing_share,
        avg(case when len(c.undocumented) > 0 then 1.0 else 0.0 end) as undocumented_share,
        avg(case when len(c.order_violations) > 0 then 1.0 else 0.0 end)
            as order_violation_share,
        avg(case when len(c.skipped_gates) > 0 then 1.0 else 0.0 end) as gate_skipped_share,
        count(distinct c.variant_id) as n_variants,
        count(o.conversation_id) as n_with_outcome,
        avg(case when o.resolved then 1.0 else 0.0 end)
            filter (where o.conversation_id is not null) as resolved_share,
        avg(case when o.escalated then 1.0 else 0.0 end)
            filter (where o.conversation_id is not null) as escalated_share,
        avg(case when o.repeat_contact then 1.0 else 0.0 end)
            filter (where o.conversation_id is not null) as repeat_contact_share
    from conformance_rows c
    left join outcome_rows o using (conversation_id)
    group by c.sop_id, c.version
),

final as (
    select
        sop_id,
        version,
        n_conversations,
        n_conforming,
        n_conforming / n_conversations as conforming_share,
        mean_fitness,
        missing_share,
        undocumented_share,
        order_violation_share,
        gate_skipped_share,
        n_variants,
        n_with_outcome,
        resolved_share,
        escalated_share,
        repeat_contact_share
    from per_workflow
)

select
    sop_id, version, n_conversations, n_conforming, conforming_share, mean_fitness,
    missing_share, undocumented_share, order_violation_share, gate_skipped_share,
    n_variants, n_with_outcome, resolved_share, escalated_share, repeat_contact_share
from final
order by sop_id, version
