-- The conversations behind each flagged drift finding and each readiness reason: two or
-- three typical conversations a finding (never the worst ones), with the turn that shows
-- it. subject is 'finding' (finding_id: drift_findings.finding_id) or 'readiness'
-- (finding_id: workflow_id || ':' || component of the latest ranking's reasons; kind
-- holds the component). excerpt is JSON text: a list of {turn_idx, speaker, text,
-- highlight}, the highlighted turn and about two each side, the text redacted at ingest.
create or replace view finding_examples as
with

drift as (
    select
        'finding' as subject,
        finding_id,
        workflow_id,
        kind,
        step,
        rank,
        conversation_id,
        turn_idx,
        why,
        excerpt,
        run_id
    from drift_examples
),

readiness as (
    select
        'readiness' as subject,
        workflow_id || ':' || component as finding_id,
        workflow_id,
        component as kind,
        cast(null as varchar) as step,
        rank,
        conversation_id,
        turn_idx,
        why,
        excerpt,
        run_id
    from readiness_examples
),

final as (
    select * from drift
    union all
    select * from readiness
)

select
    subject, finding_id, workflow_id, kind, step, rank, conversation_id, turn_idx, why,
    excerpt, run_id
from final
order by subject, finding_id, rank
