-- active_customers_weekly: one row per calendar week (configured week start) — WAU, average
-- DAU over the week's days and weekly stickiness
with activity as (
    select
        customer_id,
        day_index,
        week_index,
        events
    from customer_daily_activity
),

feature_rows as (
    select
        customer_id,
        user_id,
        week_index
    from customer_daily_features
    where user_id is not null
),

first_week as (
    -- a join below, not a scalar subquery: ClickHouse rejects those in joins
    select min(week_index) as first_week_index
    from activity
),

weeks as (
    -- every week from the first with activity; the as_of week stops at as_of
    select
        week_index,
        min(activity_date) as date_week,
        count(*) as days
    from calendar_days
    inner join first_week on week_index >= first_week.first_week_index
    group by week_index
),

weekly_customers as (
    select
        week_index,
        count(distinct customer_id) as active_customers,
        count(*) as active_customer_days,
        sum(events) as events
    from activity
    group by week_index
),

week_user_rows as (
    -- a user is a (customer, user_id) pair
    select
        week_index,
        customer_id,
        user_id
    from feature_rows
    group by week_index, customer_id, user_id
),

weekly_users as (
    select
        week_index,
        count(*) as active_users
    from week_user_rows
    group by week_index
),

final as (
    select
        weeks.week_index,
        weeks.date_week,
        weeks.days,
        coalesce(weekly_customers.active_customers, 0) as active_customers,
        safe_divide(coalesce(weekly_customers.active_customer_days, 0), weeks.days)
            as avg_daily_active_customers,
        stickiness(
            safe_divide(coalesce(weekly_customers.active_customer_days, 0), weeks.days),
            weekly_customers.active_customers
        ) as stickiness,
        coalesce(weekly_users.active_users, 0) as active_users,
        coalesce(weekly_customers.events, 0) as events
    from weeks
    left join weekly_customers on weekly_customers.week_index = weeks.week_index
    left join weekly_users on weekly_users.week_index = weeks.week_index
)

select * from final
