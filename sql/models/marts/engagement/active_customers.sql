-- active_customers: one row per calendar month — MAU, average DAU and WAU, stickiness, for
-- customers and for users; every distinct count comes from the per-day activity tables and
-- is never summed across days
with activity as (
    select
        customer_id,
        day_index,
        week_index,
        month_index,
        active_users,
        events
    from customer_daily_activity
),

feature_rows as (
    select
        customer_id,
        user_id,
        month_index
    from customer_daily_features
    where user_id is not null
),

days as (
    -- every day from the first day of data to as_of, active or not: days without activity
    -- count as zeros in the averages
    select
        day_index,
        week_index,
        month_index,
        month_start
    from calendar_days
),

first_month as (
    -- a join below, not a scalar subquery: ClickHouse rejects those in joins
    select min(month_index) as first_month_index
    from activity
),

months as (
    -- from the first month with any activity; the as_of month stops at as_of
    select
        month_index,
        min(month_start) as date_month,
        count(*) as days
    from days
    inner join first_month on month_index >= first_month.first_month_index
    group by month_index
),

monthly_customers as (
    select
        month_index,
        count(distinct customer_id) as active_customers,
        count(*) as active_customer_days,
        sum(active_users) as active_user_days,
        sum(events) as events
    from activity
    group by month_index
),

month_user_rows as (
    -- a user is a (customer, user_id) pair: two customers may reuse the same user ids
    select
        month_index,
        customer_id,
        user_id
    from feature_rows
    group by month_index, customer_id, user_id
),

monthly_users as (
    select
        month_index,
        count(*) as active_users
    from month_user_rows
    group by month_index
),

month_weeks as (
    -- how many days of each month fall in each week: the weights of the weekly average
    select
        month_index,
        week_index,
        count(*) as days
    from days
    group by month_index, week_index
),

weekly_customers as (
    -- WAU of each week overlapping each month, whole week (a week straddling two months
    -- counts in both). Counted per (month, week), not per week: a refresh keeping the closed
    -- months then reads only the activity of the weeks of the months it recomputes
    select
        month_weeks.month_index,
        month_weeks.week_index,
        count(distinct activity.customer_id) as active_customers
    from month_weeks
    inner join activity on activity.week_index = month_weeks.week_index
    group by month_weeks.month_index, month_weeks.week_index
),

weekly_average as (
    select
        month_weeks.month_index,
        sum(month_weeks.days * coalesce(weekly_customers.active_customers, 0))
            as weighted_weekly_active
    from month_weeks
    left join weekly_customers
        on weekly_customers.month_index = month_weeks.month_index
        and weekly_customers.week_index = month_weeks.week_index
    group by month_weeks.month_index
),

final as (
    select
        months.month_index,
        months.date_month,
        months.days,
        coalesce(monthly_customers.active_customers, 0) as active_customers,
        safe_divide(coalesce(monthly_customers.active_customer_days, 0), months.days)
            as avg_daily_active_customers,
        safe_divide(weekly_average.weighted_weekly_active, months.days)
            as avg_weekly_active_customers,
        stickiness(
            safe_divide(coalesce(monthly_customers.active_customer_days, 0), months.days),
            monthly_customers.active_customers
        ) as stickiness,
        coalesce(monthly_users.active_users, 0) as active_users,
        safe_divide(coalesce(monthly_customers.active_user_days, 0), months.days)
            as avg_daily_active_users,
        stickiness(
            safe_divide(coalesce(monthly_customers.active_user_days, 0), months.days),
            monthly_users.active_users
        ) as user_stickiness,
        coalesce(monthly_customers.events, 0) as events
    from months
    left join monthly_customers on monthly_customers.month_index = months.month_index
    left join monthly_users on monthly_users.month_index = months.month_index
    left join weekly_average on weekly_average.month_index = months.month_index
)

select * from final
