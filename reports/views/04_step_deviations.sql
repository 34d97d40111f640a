-- Which steps depart from each documented workflow, and how often: a documented step
-- skipped (missing), a step the SOP does not have (undocumented), a step done out of
-- the documented order (order_violation: conformance records "B before A", B done
-- before A although the SOP puts it after; step is B, detail the whole pair) or an
-- approval gate skipped while its condition held (gate_skipped). share = conversations
-- with that deviation at that step over all the workflow's conversations. step_label
-- names a step found in the data (no SOP's) by its key phrase; null for a documented
-- step (its id is its name).
create or replace view step_deviations as
with

step_names as (
    select step_id, label
    from step_types
    where source = 'discovered' and label is not null and label <> step_id
),

conformance_rows as (
    select conversation_id, sop_id, version, missing, undocumented, order_violations,
        skipped_gates
    from conformance
),

workflow_sizes as (
    select sop_id, version, count(*) as n_workflow
    from conformance_rows
    group by sop_id, version
),

deviations as (
    select sop_id, version, conversation_id, 'missing' as deviation, unnest(missing) as detail
    from conformance_rows
    union all
    select sop_id, version, conversation_id, 'undocumented', unnest(undocumented)
    from conformance_rows
    union all
    select sop_id, version, conversation_id, 'order_violation', unnest(order_violations)
    from conformance_rows
    union all
    select sop_id, version, conversation_id, 'gate_skipped', unnest(skipped_gates)
    from conformance_rows
),

counted as (
    select
        sop_id,
        version,
        deviation,
        split_part(detail, ' before ', 1) as step,
        detail,
        count(distinct conversation_id) as n_conversations
    from deviations
    group by sop_id, version, deviation, detail
),

final as (
    select
        c.sop_id,
        c.version,
        c.deviation,
        c.step,
        c.detail,
        c.n_conversations,
        w.n_workflow,
        c.n_conversations / w.n_workflow as share,
        s.label as step_label
    from counted c
    join workflow_sizes w using (sop_id, version)
    left join step_names s on s.step_id = c.step
)

select sop_id, version, deviation, step, detail, n_conversations, n_workflow, share, step_label
from final
order by sop_id, version, share desc, deviation, detail
