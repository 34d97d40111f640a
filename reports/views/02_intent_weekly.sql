-- Conversations per intent and calendar week (weeks start on Monday, in UTC), for
-- trend lines. A conversation without a start time or an intent is left out.
create or replace view intent_weekly as
with

assignments as (
    select conversation_id, intent_id, is_outlier
    from intent_assignments
),

conversation_starts as (
    select conversation_id, started_at
    from conversations
),

dated as (
    select
        a.intent_id,
        cast(date_trunc('week', timezone('UTC', c.started_at)) as date) as week
    from assignments a
    join conversation_starts c using (conversation_id)
    where a.intent_id is not null and not a.is_outlier and c.started_at is not null
),

final as (
    select intent_id, week, count(*) as n_conversations
    from dated
    group by intent_id, week
)

select intent_id, week, n_conversations
from final
order by intent_id, week
