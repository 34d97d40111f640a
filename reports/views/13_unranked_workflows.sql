-- Workflows the readiness ranking leaves out: no documented SOP and fewer conversations
-- than the volume floor (too little evidence to judge). The report shows them in one
-- line; this view lists them, biggest first, with the intent's label. Conversations are
-- counted as the readiness stage counts them (table `outcomes`, one row a conversation
-- with a workflow). Empty before the readiness stage has run.
create or replace view unranked_workflows as
with

sizes as (
    select workflow_id, count(*) as n_conversations
    from outcomes
    where workflow_id is not null
    group by workflow_id
),

ranked as (
    select workflow_id
    from readiness
    where run_id = (select max(run_id) from readiness)
),

intent_names as (
    select intent_id, label
    from intents
    where run_id = (select max(run_id) from intents)
),

final as (
    select s.workflow_id, i.label, s.n_conversations
    from sizes s
    left join intent_names i on i.intent_id = s.workflow_id
    where exists (select 1 from ranked)
        and s.workflow_id not in (select workflow_id from ranked)
)

select workflow_id, label, n_conversations
from final
order by n_conversations desc, workflow_id
