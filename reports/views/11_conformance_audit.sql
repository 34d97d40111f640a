-- The audit trail: which playbook each conversation was checked against. One row per
-- conversation of the latest conformance check: the playbook's id, version and content
-- hash (what the playbook prescribes: steps, order, decisions, tool bindings, gates and
-- risk; the same hash a bundle's playbook.yaml records), as the library stood when the
-- check ran, and the verdict.
create or replace view conformance_audit as
with

checked as (
    select conversation_id, sop_id, version, is_conforming, fitness, run_id
    from conformance
),

library as (
    select sop_id, version, content_hash, run_id as library_run_id
    from sops
),

matched as (
    select
        c.conversation_id,
        c.sop_id,
        c.version,
        l.content_hash,
        c.is_conforming,
        c.fitness,
        c.run_id,
        l.library_run_id,
        row_number() over (
            partition by c.conversation_id, c.sop_id order by l.library_run_id desc nulls last
        ) as newest
    from checked as c
    left join library as l
        on l.sop_id = c.sop_id and l.version = c.version and l.library_run_id <= c.run_id
),

final as (
    select
        conversation_id,
        sop_id,
        version as playbook_version,
        content_hash as playbook_hash,
        is_conforming,
        fitness,
        run_id as checked_in_run,
        library_run_id as playbook_loaded_in_run
    from matched
    where newest = 1
)

select * from final
order by sop_id, conversation_id
