-- churn_lift_usage: per period and feature, how many of churn_lift_population's churned and
-- retained customers used the feature in the 90 days up to the anchor. A row reads the
-- feature rows of the periods before its own, so a refresh keeps the closed periods' rows;
-- churn_feature_lift adds them up
with customer_rows as (
    select
        customer_id,
        period_index,
        movement,
        was_paying
    from customer_periods
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
    select
        period_index,
        anchor_day_index
    from churn_lift_population
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
    select
        customer_rows.customer_id,
        customer_rows.period_index,
        periods.anchor_day_index,
        case when customer_rows.movement = 'churn' then 1 else 0 end as is_churned
    from customer_rows
    inner join periods on periods.period_index = customer_rows.period_index
    where customer_rows.was_paying = 1
),

usage as (
    -- a feature was used in the window iff, in one of the window's periods, its last day of
    -- use is on or after the window's first day (that period ends by the anchor)
    select
        population.is_churned,
        feature_periods.event_name,
        population.customer_id,
        population.period_index,
        population.anchor_day_index
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
        population.period_index,
        population.anchor_day_index
),

final as (
    select
        period_index,
        anchor_day_index,
        event_name,
        cast(sum(is_churned) as integer) as churned_users,
        cast(sum(1 - is_churned) as integer) as retained_users
    from usage
    group by period_index, anchor_day_index, event_name
)

select * from final
