-- What each input file contributed and what was held back, in long form (one count a
-- row): category 'records' (read, loaded, unchanged, replaced, quarantined),
-- 'quarantine' (records held back, by reason) and 'redaction' (personal data
-- replaced by placeholders in the stored conversations, by type).
create or replace view data_quality as
with

source_files as (
    select
        source_id, path, format, status, n_records, n_loaded, n_unchanged, n_replaced,
        n_quarantined
    from sources
),

quarantined as (
    select source_id, reason
    from quarantine
),

redacted as (
    select r.pii_type, r.n, c.source_id
    from redactions r
    join conversations c using (conversation_id)
),

record_counts as (
    select source_id, 'records' as category, 'read' as item, n_records as n from source_files
    union all
    select source_id, 'records', 'loaded', n_loaded from source_files
    union all
    select source_id, 'records', 'unchanged', n_unchanged from source_files
    union all
    select source_id, 'records', 'replaced', n_replaced from source_files
    union all
    select source_id, 'records', 'quarantined', n_quarantined from source_files
),

quarantine_counts as (
    select source_id, 'quarantine' as category, reason as item, count(*) as n
    from quarantined
    group by source_id, reason
),

redaction_counts as (
    select source_id, 'redaction' as category, pii_type as item, sum(n) as n
    from redacted
    group by source_id, pii_type
),

counts as (
    select * from record_counts
    union all
    select * from quarantine_counts
    union all
    select * from redaction_counts
),

final as (
    select
        c.source_id,
        s.path,
        s.format,
        s.status,
        c.category,
        c.item,
        cast(c.n as bigint) as n
    from counts c
    left join source_files s using (source_id)
)

select source_id, path, format, status, category, item, n
from final
order by source_id, category, n desc, item
