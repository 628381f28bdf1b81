-- usage_frequency: the usage-frequency histogram — for each calendar month, how many active
-- customers were active on 1, 2, 3 … days of it
with activity as (
    select
        customer_id,
        month_index
    from customer_daily_activity
),

months as (
    select
        month_index,
        min(month_start) as date_month
    from calendar_days
    group by month_index
),

customer_months as (
    -- one activity row per customer-day: counting rows counts active days
    select
        customer_id,
        month_index,
        count(*) as active_days
    from activity
    group by customer_id, month_index
),

histogram as (
    select
        month_index,
        active_days,
        count(*) as customers
    from customer_months
    group by month_index, active_days
),

month_totals as (
    select
        month_index,
        count(*) as active_customers
    from customer_months
    group by month_index
),

final as (
    select
        histogram.month_index,
        months.date_month,
        histogram.active_days,
        histogram.customers,
        month_totals.active_customers,
        pct(histogram.customers, month_totals.active_customers) as share_of_active_customers
    from histogram
    inner join months on months.month_index = histogram.month_index
    inner join month_totals on month_totals.month_index = histogram.month_index
)

select * from final
