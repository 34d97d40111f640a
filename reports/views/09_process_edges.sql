-- The directly-follows graph of each workflow's steps, as agents actually do them: how
-- many conversations go from one step straight to the next (n), with '▶' for the start
-- and '■' for the end, as in `dfg_edges`. Unlike `dfg_edges`, conversation management
-- is left out first (the unclassified 'other' residue, and generic greetings and
-- closings: step types from no SOP step), so the graph holds the steps an SOP is
-- about; a step repeated around a left-out turn counts once. A workflow is the
-- conversation's documented SOP, else its intent. src_label / dst_label name a step
-- found in the data (no SOP's) by its key phrase; null for documented steps and markers.
create or replace view process_edges as
with

step_names as (
    select step_id, label
    from step_types
    where source = 'discovered' and label is not null and label <> step_id
),

step_events_kept as (
    select workflow_id, conversation_id, seq, step_id
    from step_events
    where not is_repeat and workflow_id is not null
),

conversation_management as (
    select step_id
    from step_types
    where step_id = 'other' or (source = 'sop' and len(sop_steps) = 0)
),

workflow_steps as (
    select *
    from step_events_kept
    where step_id <> 'other'
        and step_id not in (select step_id from conversation_management)
),

collapsed as (
    select *, lag(step_id) over cases as previous
    from workflow_steps
    window cases as (partition by workflow_id, conversation_id order by seq)
),

ordered as (
    select
        workflow_id,
        step_id,
        lag(step_id) over cases as previous_step,
        lead(step_id) over cases as next_step
    from collapsed
    where previous is distinct from step_id
    window cases as (partition by workflow_id, conversation_id order by seq)
),

transitions as (
    select workflow_id, coalesce(previous_step, '▶') as src, step_id as dst
    from ordered
    union all
    select workflow_id, step_id as src, '■' as dst
    from ordered
    where next_step is null
),

counted as (
    select workflow_id, src, dst, count(*) as n
    from transitions
    group by workflow_id, src, dst
),

final as (
    select c.*, s.label as src_label, d.label as dst_label
    from counted c
    left join step_names s on s.step_id = c.src
    left join step_names d on d.step_id = c.dst
)

select workflow_id, src, dst, n, src_label, dst_label
from final
order by workflow_id, n desc, src, dst
