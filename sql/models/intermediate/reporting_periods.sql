-- reporting_periods: the period spine of the subscription reports — every period of the
-- calendar from the first one with a paying customer to as_of's, even one without any, so a
-- report has a row for every period and never runs into the future (the calendar stops at
-- as_of)
with final as (
    select
        calendar.period_index,
        calendar.period_start,
        calendar.period_end,
        calendar.snapshot_date,
        calendar.rolling_30_start,
        calendar.rolling_365_start
    from sr_periods_from(customer_periods) as calendar
)

select * from final
