-- Conformance and outcomes of each documented workflow per team, so that a process
-- owner sees whether a deviation is local to a team. Conversations without a team
-- are grouped under a null team.
create or replace view team_conformance as
with

conformance_rows as (
    select conversation_id, sop_id, version, fitness, missing, is_conforming
    from conformance
),

conversation_teams as (
    select conversation_id, team
    from conversations
),

outcome_rows as (
    select conversation_id, resolved, escalated, repeat_contact
    from outcomes
),

per_team as (
    select
        c.sop_id,
        c.version,
        t.team,
        count(*) as n_conversations,
        avg(case when c.is_conforming then 1.0 else 0.0 end) as conforming_share,
        avg(c.fitness) as mean_fitness,
        avg(case when len(c.missing) > 0 then 1.0 else 0.0 end) as missing_share,
        avg(case when o.resolved then 1.0 else 0.0 end)
            filter (where o.conversation_id is not null) as resolved_share,
        avg(case when o.escalated then 1.0 else 0.0 end)
            filter (where o.conversation_id is not null) as escalated_share,
        avg(case when o.repeat_contact then 1.0 else 0.0 end)
            filter (where o.conversation_id is not null) as repeat_contact_share
    from conformance_rows c
    left join conversation_teams t using (conversation_id)
    left join outcome_rows o using (conversation_id)
    group by c.sop_id, c.version, t.team
),

final as (
    select
        sop_id, version, team, n_conversations, conforming_share, mean_fitness,
        missing_share, resolved_share, escalated_share, repeat_contact_share
    from per_team
)

select
    sop_id, version, team, n_conversations, conforming_share, mean_fitness,
    missing_share, resolved_share, escalated_share, repeat_contact_share
from final
order by sop_id, version, team nulls last
