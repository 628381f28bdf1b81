-- feature_adoption: per period and feature, the share of active customers who used it
with feature_rows as (
    -- one row per customer, period and feature, its distinct users already counted
    select
        customer_id,
        period_index,
        event_name,
        users,
        events
    from customer_period_features
),

periods as (
    -- every period from the first one of customer_period_features to as_of's
    select
        period_index,
        period_start
    from sr_periods_from(customer_period_features)
),

features as (
    select distinct event_name
    from feature_rows
),

active as (
    select
        period_index,
        count(distinct customer_id) as active_customers
    from feature_rows
    group by period_index
),

usage as (
    -- a user is a (customer, user_id) pair: the customers' distinct users add up
    select
        period_index,
        event_name,
        count(*) as feature_customers,
        sum(events) as events,
        cast(sum(users) as bigint) as feature_users
    from feature_rows
    group by period_index, event_name
),

grid as (
    -- every feature in every period, so a feature nobody used shows 0, not a missing row
    select
        periods.period_index,
        periods.period_start,
        features.event_name
    from periods
    cross join features
),

final as (
    select
        grid.period_index,
        grid.period_start as date_period,
        grid.event_name,
        coalesce(active.active_customers, 0) as active_customers,
        coalesce(usage.feature_customers, 0) as feature_customers,
        adoption_rate(coalesce(usage.feature_customers, 0), active.active_customers)
            as adoption_rate,
        coalesce(usage.feature_users, 0) as feature_users,
        coalesce(usage.events, 0) as events
    from grid
    left join active on active.period_index = grid.period_index
    left join usage
        on usage.period_index = grid.period_index
        and usage.event_name = grid.event_name
)

select * from final
