-- What an AI agent could take, per workflow of the latest readiness ranking, in the units
-- leaders plan in: conversations and agent hours per month (not seats). A month is 30.44
-- days; span_months is the days between the first and the last conversation start of all
-- contacts over 30.44, at least 1, the same on every row so that rows add up.
-- agent_hours_per_month sums outcomes.duration_s (ended_at - started_at, else first to
-- last turn timestamp); a conversation with neither is untimed and adds nothing:
-- timed_conversations says over how many conversations the hours were measured (null
-- hours: none was). contact_share is of all contacts. What an AI agent could take:
-- everything for "autonomous"; everything for "agent with human approval", with one
-- approval per conversation (an upper bound: the SOPs' `when` gates would ask for fewer);
-- nothing for "human-led". The last row (is_total) sums every count, per-month column and
-- contact_share; its outcome shares are of all the rows' conversations together.
-- pipeline/readiness/capacity.py computes the same figures for `cxminer readiness`.
create or replace view leaders_capacity as
with

ranking as (
    select rank, workflow_id, label, tier, score, n_conversations
    from readiness
    where run_id = (select max(run_id) from readiness)
),

handled as (
    select workflow_id, duration_s, resolved, escalated, repeat_contact
    from outcomes
),

contacts as (
    select
        count(*) as n_contacts,
        greatest(
            coalesce((epoch(max(started_at)) - epoch(min(started_at))) / 86400.0 / 30.44, 0.0),
            1.0
        ) as span_months
    from conversations
),

measured as (
    select
        workflow_id,
        count(duration_s) as timed_conversations,
        sum(duration_s) / 3600.0 as agent_hours,
        avg(resolved::double) as resolved_share,
        avg(escalated::double) as escalated_share,
        avg(repeat_contact::double) as repeat_contact_share
    from handled
    group by workflow_id
),

per_workflow as (
    select
        r.rank,
        r.workflow_id,
        r.label,
        r.tier,
        r.score,
        r.n_conversations::bigint as conversations,
        r.n_conversations / c.span_months as conversations_per_month,
        r.n_conversations / nullif(c.n_contacts, 0) as contact_share,
        case when coalesce(m.timed_conversations, 0) > 0 then m.agent_hours / c.span_months end
            as agent_hours_per_month,
        coalesce(m.timed_conversations, 0) as timed_conversations,
        greatest(r.n_conversations - coalesce(m.timed_conversations, 0), 0)::bigint
            as untimed_conversations,
        m.resolved_share,
        m.escalated_share,
        m.repeat_contact_share,
        c.span_months
    from ranking as r
    cross join contacts as c
    left join measured as m using (workflow_id)
),

taken as (
    select
        *,
        case when tier = 'human-led' then 0.0 else conversations_per_month end
            as ai_conversations_per_month,
        case when tier = 'human-led' then 0.0 else agent_hours_per_month end
            as ai_agent_hours_per_month,
        case when tier = 'agent with human approval' then conversations_per_month else 0.0 end
            as approvals_per_month,
        false as is_total
    from per_workflow
),

ranked_outcomes as (
    select
        avg(resolved::double) as resolved_share,
        avg(escalated::double) as escalated_share,
        avg(repeat_contact::double) as repeat_contact_share
    from handled
    where workflow_id in (select workflow_id from ranking)
),

totals as (
    select
        null::integer as rank,
        null::varchar as workflow_id,
        'total' as label,
        null::varchar as tier,
        null::double as score,
        sum(t.conversations)::bigint as conversations,
        sum(t.conversations_per_month) as conversations_per_month,
        sum(t.contact_share) as contact_share,
        sum(t.agent_hours_per_month) as agent_hours_per_month,
        sum(t.timed_conversations)::bigint as timed_conversations,
        sum(t.untimed_conversations)::bigint as untimed_conversations,
        any_value(o.resolved_share) as resolved_share,
        any_value(o.escalated_share) as escalated_share,
        any_value(o.repeat_contact_share) as repeat_contact_share,
        sum(t.ai_conversations_per_month) as ai_conversations_per_month,
        sum(t.ai_agent_hours_per_month) as ai_agent_hours_per_month,
        sum(t.approvals_per_month) as approvals_per_month,
        any_value(c.span_months) as span_months,
        true as is_total
    from taken as t
    cross join ranked_outcomes as o
    cross join contacts as c
    having count(*) > 0  -- no ranking, no totals row
),

final as (
    select * from taken
    union all by name
    select * from totals
)

select
    rank, workflow_id, label, tier, score, conversations, conversations_per_month,
    contact_share, agent_hours_per_month, timed_conversations, untimed_conversations,
    resolved_share, escalated_share, repeat_contact_share, ai_conversations_per_month,
    ai_agent_hours_per_month, approvals_per_month, span_months, is_total
from final
order by is_total, rank, workflow_id
