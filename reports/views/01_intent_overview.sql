-- Customer intents of the latest intent run: what customers contact us about, how
-- often, in their own words (the exemplar), which intents are new, and the family
-- (the coarse level: intents whose requests are alike) each belongs to.
-- `intents` keeps a snapshot per run; run ids sort by start time, so the greatest
-- run id is the newest snapshot. `intent_assignments` is the current assignment of
-- every conversation (outliers have no intent).
create or replace view intent_overview as
with

intent_snapshots as (
    select
        intent_id, model_version, label, terms, exemplar, size, share, first_seen,
        last_seen, recent_share, is_emerging, run_id,
        coalesce(family_id, 'F' || substr(intent_id, 2)) as family_id,
        coalesce(family_label, label) as family_label
    from intents
),

assignments as (
    select conversation_id, intent_id, is_outlier
    from intent_assignments
),

latest_snapshot as (
    select *
    from intent_snapshots
    where run_id = (select max(run_id) from intent_snapshots)
),

assigned as (
    select intent_id, count(*) as n_assigned
    from assignments
    where intent_id is not null and not is_outlier
    group by intent_id
),

final as (
    select
        s.intent_id,
        s.label,
        s.terms,
        s.size,
        s.share,
        coalesce(a.n_assigned, 0) as n_assigned,
        s.exemplar,
        s.is_emerging,
        s.recent_share,
        s.first_seen,
        s.last_seen,
        s.model_version,
        s.run_id,
        s.family_id,
        s.family_label
    from latest_snapshot s
    left join assigned a using (intent_id)
)

select
    intent_id, label, terms, size, share, n_assigned, exemplar, is_emerging,
    recent_share, first_seen, last_seen, model_version, run_id, family_id, family_label
from final
order by size desc, intent_id
