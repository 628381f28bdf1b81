-- feature_breadth: per period, how many active customers used 1, 2, 3 … distinct features
with feature_rows as (
    -- one row per customer, period and feature used
    select
        customer_id,
        period_index,
        event_name
    from customer_period_features
),

periods as (
    select
        period_index,
        period_start
    from calendar
),

customer_features as (
    select
        customer_id,
        period_index,
        count(*) as features_used
    from feature_rows
    group by customer_id, period_index
),

available as (
    -- features anyone used in the period: the denominator of a customer's breadth
    select
        period_index,
        count(distinct event_name) as features_available
    from feature_rows
    group by period_index
),

histogram as (
    select
        period_index,
        features_used,
        count(*) as customers
    from customer_features
    group by period_index, features_used
),

period_totals as (
    select
        period_index,
        count(*) as active_customers
    from customer_features
    group by period_index
),

final as (
    select
        histogram.period_index,
        periods.period_start as date_period,
        histogram.features_used,
        available.features_available,
        histogram.customers,
        period_totals.active_customers,
        pct(histogram.customers, period_totals.active_customers) as share_of_active_customers
    from histogram
    inner join periods on periods.period_index = histogram.period_index
    inner join available on available.period_index = histogram.period_index
    inner join period_totals on period_totals.period_index = histogram.period_index
)

select * from final
