-- churn_lift_population: per period, the churn events and retained customer-periods that
-- churn_feature_lift compares, and the anchor day of their 90-day window. A row reads its own
-- period's customer rows and the calendar of the period before, so a refresh keeps the closed
-- periods' rows; churn_feature_lift adds them up
with customer_rows as (
    select
        customer_id,
        period_index,
        movement,
        was_paying
    from customer_periods
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

final as (
    -- churned: paying at the previous snapshot, not at this one; retained: paying at both
    select
        periods.period_index,
        periods.anchor_day_index,
        cast(sum(case when customer_rows.movement = 'churn' then 1 else 0 end) as integer)
            as churned_customers,
        cast(sum(case when customer_rows.movement = 'churn' then 0 else 1 end) as integer)
            as retained_customers
    from customer_rows
    inner join periods on periods.period_index = customer_rows.period_index
    where customer_rows.was_paying = 1
    group by periods.period_index, periods.anchor_day_index
)

select * from final
