-- time_of_use: events by local hour of day × ISO day of week, per period — when customers
-- use the product, in the reporting time zone
with feature_rows as (
    select
        customer_id,
        period_index,
        day_of_week,
        hour_of_day,
        events
    from customer_daily_features
),

periods as (
    select
        period_index,
        period_start
    from calendar
),

cells as (
    -- distinct customers per cell are counted here, never added up from days
    select
        period_index,
        day_of_week,
        hour_of_day,
        sum(events) as events,
        count(distinct customer_id) as active_customers
    from feature_rows
    group by period_index, day_of_week, hour_of_day
),

period_totals as (
    select
        period_index,
        sum(events) as events
    from feature_rows
    group by period_index
),

final as (
    select
        cells.period_index,
        periods.period_start as date_period,
        cells.day_of_week,
        cells.hour_of_day,
        cells.events,
        cells.active_customers,
        pct(cells.events, period_totals.events) as share_of_events
    from cells
    inner join periods on periods.period_index = cells.period_index
    inner join period_totals on period_totals.period_index = cells.period_index
)

select * from final
