-- churn_feature_lift: for each feature, the share of churned customers who used it in the 90
-- days before they churned vs the share of retained customers over the same window — the
-- features churned customers stopped (or never started) using
with customer_rows as (
    select
        customer_id,
        period_index,
        movement,
        is_paying,
        was_paying
    from customer_periods
),

feature_rows as (
    select
        customer_id,
        day_index,
        event_name
    from customer_daily_features
),

feature_periods as (
    -- one row per customer, period and feature used, with the last day it was used
    select
        customer_id,
        period_index,
        event_name,
        last_day_index
    from customer_period_features
),

periods as (
    -- the anchor: the last day of the period before, the last snapshot at which both the
    -- churned and the retained customers were paying (the latest day of a period in
    -- calendar_days is its last day; only the as_of period's stops early, and no period
    -- follows it)
    select
        period_index + 1 as period_index,
        max(day_index) as anchor_day_index
    from calendar_days
    group by period_index
),

first_day as (
    select min(day_index) as first_day_index
    from feature_rows
),

window_periods as (
    -- the periods the 90 days up to each anchor overlap; all of them end by the anchor
    select
        periods.period_index,
        calendar_days.period_index as window_period_index
    from periods
    inner join calendar_days
        on calendar_days.day_index >= periods.anchor_day_index - 89
        and calendar_days.day_index <= periods.anchor_day_index
    group by periods.period_index, calendar_days.period_index
),

population as (
    -- churned: paying at the previous snapshot, not at this one; retained: paying at both;
    -- only windows that lie entirely after the first event, so both groups are observed
    select
        customer_rows.customer_id,
        customer_rows.period_index,
        periods.anchor_day_index,
        case when customer_rows.movement = 'churn' then 1 else 0 end as is_churned
    from customer_rows
    inner join periods on periods.period_index = customer_rows.period_index
    cross join first_day
    where customer_rows.was_paying = 1
        and periods.anchor_day_index - 89 >= first_day.first_day_index
),

usage as (
    -- a feature was used in the window iff, in one of the window's periods, its last day of
    -- use is on or after the window's first day (that period ends by the anchor)
    select
        population.is_churned,
        feature_periods.event_name,
        population.customer_id,
        population.period_index
    from population
    inner join window_periods on window_periods.period_index = population.period_index
    inner join feature_periods
        on feature_periods.customer_id = population.customer_id
        and feature_periods.period_index = window_periods.window_period_index
    where feature_periods.last_day_index >= population.anchor_day_index - 89
    group by
        population.is_churned,
        feature_periods.event_name,
        population.customer_id,
        population.period_index
),

group_sizes as (
    select
        sum(is_churned) as churned_customers,
        sum(1 - is_churned) as retained_customers
    from population
),

feature_counts as (
    select
        event_name,
        sum(is_churned) as churned_users,
        sum(1 - is_churned) as retained_users
    from usage
    group by event_name
),

features as (
    select distinct event_name
    from feature_periods
),

final as (
    select
        features.event_name,
        coalesce(group_sizes.churned_customers, 0) as churned_customers,
        coalesce(feature_counts.churned_users, 0) as churned_users,
        pct(coalesce(feature_counts.churned_users, 0), group_sizes.churned_customers)
            as churned_usage_rate,
        coalesce(group_sizes.retained_customers, 0) as retained_customers,
        coalesce(feature_counts.retained_users, 0) as retained_users,
        pct(coalesce(feature_counts.retained_users, 0), group_sizes.retained_customers)
            as retained_usage_rate,
        usage_lift(
            pct(coalesce(feature_counts.churned_users, 0), group_sizes.churned_customers),
            pct(coalesce(feature_counts.retained_users, 0), group_sizes.retained_customers)
        ) as usage_lift,
        pct(coalesce(feature_counts.churned_users, 0), group_sizes.churned_customers)
            - pct(coalesce(feature_counts.retained_users, 0), group_sizes.retained_customers)
            as usage_difference
    from features
    cross join group_sizes
    left join feature_counts on feature_counts.event_name = features.event_name
)

select * from final
