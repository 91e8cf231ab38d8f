-- One row per visitor (not a cookieless ping) and Asia/Seoul day with any event: what the
-- visitor did that day. A human visitor is active on a day with is_active, and visits on a day
-- with is_visit_day (active, with a session start): the day frequent visitors count.
with events as (
    select * from {{ ref('int_events') }}
    where visitor_id is not null
),

final as (
    select
        visitor_id,
        event_date as activity_date,
        max(is_bot) as is_bot,
        count(*) as event_count,
        sum(case when is_active_event then 1 else 0 end) as active_event_count,
        sum(case when is_active_event then 1 else 0 end) > 0 as is_active,
        sum(case when is_session_start then 1 else 0 end) as session_start_count,
        sum(case when is_active_event then 1 else 0 end) > 0
        and sum(case when is_session_start then 1 else 0 end) > 0 as is_visit_day,
        sum(case when is_revenue_event then 1 else 0 end) as purchase_count,
        coalesce(sum(revenue), 0) as revenue
    from events
    group by visitor_id, event_date
)

select * from final
