-- reporting_periods: the period spine of the subscription reports — every period of the
-- calendar from the first one with a paying customer to as_of's, even one without any, so a
-- report has a row for every period and never runs into the future (the calendar stops at
-- as_of)
with first_period as (
    -- a join below, not a scalar subquery: ClickHouse rejects those in joins
    select min(period_index) as first_period_index
    from customer_periods
),

final as (
    select
        calendar.period_index,
        calendar.period_start,
        calendar.period_end,
        calendar.snapshot_date,
        calendar.rolling_30_start,
        calendar.rolling_365_start
    from calendar
    inner join first_period on calendar.period_index >= first_period.first_period_index
)

select * from final
