-- active_customers_daily: one row per day from the first day with activity to as_of — DAU
-- for customers and users, zero on days without activity
with activity as (
    select
        day_index,
        active_users,
        sessions,
        events
    from customer_daily_activity
),

first_day as (
    -- a join below, not a scalar subquery: ClickHouse rejects those in joins
    select min(day_index) as first_day_index
    from activity
),

days as (
    select
        day_index,
        activity_date,
        week_index,
        month_index
    from calendar_days
    inner join first_day on day_index >= first_day.first_day_index
),

daily as (
    -- one activity row per customer and day, so counting rows counts distinct customers
    select
        day_index,
        count(*) as active_customers,
        sum(active_users) as active_users,
        sum(sessions) as sessions,
        sum(events) as events
    from activity
    group by day_index
),

final as (
    select
        days.day_index,
        days.activity_date as date_day,
        days.week_index,
        days.month_index,
        coalesce(daily.active_customers, 0) as active_customers,
        coalesce(daily.active_users, 0) as active_users,
        coalesce(daily.sessions, 0) as sessions,
        coalesce(daily.events, 0) as events
    from days
    left join daily on daily.day_index = days.day_index
)

select * from final
