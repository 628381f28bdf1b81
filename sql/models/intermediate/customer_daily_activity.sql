-- customer_daily_activity: one row per customer per active day — the one pass over the raw
-- events that every activity metric (DAU/WAU/MAU, stickiness, lifecycle, cohorts, journey)
-- reads; distinct counts are taken here per day and never summed across days downstream.
-- Each distinct count is its own grouping of (customer, day, value) pairs, joined on the day:
-- one grouping holding three exact distinct counts at once keeps a set of values per group
-- for each of them and costs more than the four simple groupings together. Each reads the
-- events itself: a shared CTE read four times is materialised by DuckDB, a copy of every event.
with daily as (
    -- duplicate events still make one active customer-day; `events` counts rows as given.
    -- Staging already dropped rows after as_of and derived the local-time indexes.
    select
        customer_id,
        day_index,
        min(activity_date) as activity_date,
        min(week_index) as week_index,
        min(month_index) as month_index,
        min(period_index) as period_index,
        count(*) as events,
        sum(duration_seconds) as duration_seconds,
        min(event_time) as first_event_at,
        max(event_time) as last_event_at
    from stg_events
    where customer_id is not null
    group by customer_id, day_index
),

day_users as (
    select
        customer_id,
        day_index,
        count(*) as active_users
    from (
        select
            customer_id,
            day_index,
            user_id
        from stg_events
        where customer_id is not null
            and user_id is not null
        group by customer_id, day_index, user_id
    ) as pairs
    group by customer_id, day_index
),

day_sessions as (
    select
        customer_id,
        day_index,
        count(*) as sessions
    from (
        select
            customer_id,
            day_index,
            session_id
        from stg_events
        where customer_id is not null
            and session_id is not null
        group by customer_id, day_index, session_id
    ) as pairs
    group by customer_id, day_index
),

day_event_names as (
    select
        customer_id,
        day_index,
        count(*) as event_names
    from (
        select
            customer_id,
            day_index,
            event_name
        from stg_events
        where customer_id is not null
            and event_name is not null
        group by customer_id, day_index, event_name
    ) as pairs
    group by customer_id, day_index
),

final as (
    -- a day whose events all lack a user (session, name) has no pair: it counts 0, as
    -- count(distinct) of only NULLs does
    select
        daily.customer_id,
        daily.day_index,
        daily.activity_date,
        daily.week_index,
        daily.month_index,
        daily.period_index,
        daily.events,
        coalesce(day_users.active_users, 0) as active_users,
        coalesce(day_sessions.sessions, 0) as sessions,
        cast(daily.duration_seconds as double) as duration_seconds,
        coalesce(day_event_names.event_names, 0) as event_names,
        daily.first_event_at,
        daily.last_event_at
    from daily
    left join day_users
        on day_users.customer_id = daily.customer_id
        and day_users.day_index = daily.day_index
    left join day_sessions
        on day_sessions.customer_id = daily.customer_id
        and day_sessions.day_index = daily.day_index
    left join day_event_names
        on day_event_names.customer_id = daily.customer_id
        and day_event_names.day_index = daily.day_index
)

select * from final
