-- customer_daily_activity: one row per customer per active day — the one pass over the raw
-- events that every activity metric (DAU/WAU/MAU, stickiness, lifecycle, cohorts, journey)
-- reads; distinct counts are taken here per day and never summed across days downstream
with event_rows as (
    -- staging already dropped rows after as_of and derived the local-time indexes
    select
        customer_id,
        user_id,
        session_id,
        event_name,
        event_time,
        duration_seconds,
        activity_date,
        day_index,
        week_index,
        month_index,
        period_index
    from stg_events
    where customer_id is not null
),

daily as (
    -- duplicate events still make one active customer-day; `events` counts rows as given
    select
        customer_id,
        day_index,
        min(activity_date) as activity_date,
        min(week_index) as week_index,
        min(month_index) as month_index,
        min(period_index) as period_index,
        count(*) as events,
        count(distinct user_id) as active_users,
        count(distinct session_id) as sessions,
        sum(duration_seconds) as duration_seconds,
        count(distinct event_name) as event_names,
        min(event_time) as first_event_at,
        max(event_time) as last_event_at
    from event_rows
    group by customer_id, day_index
),

final as (
    select
        customer_id,
        day_index,
        activity_date,
        week_index,
        month_index,
        period_index,
        events,
        active_users,
        sessions,
        cast(duration_seconds as double) as duration_seconds,
        event_names,
        first_event_at,
        last_event_at
    from daily
)

select * from final
