-- cohort_customers_rollup: cohort_customers summed per cohort, age and combination of
-- dimension values. The cohort heatmap reads it: the plan and segment filters reach it as
-- they reach cohort_customers, over a few thousand rows where that holds one per customer
-- and age (the chart's query took 0.34 s at 1M customers, most of its request)
with slices as (
    select
        cohort_period_index,
        period_number,
        count(*) as cohort_customers,
        sum(is_retained) as retained_customers,
        sum(cohort_mrr) as cohort_mrr,
        sum(retained_mrr) as retained_mrr,
        sr_dimensions(cohort_customers),
        sr_period_dimension_columns(cohort_customers)
    from cohort_customers
    group by all
),

final as (
    select
        cohort_periods.period_start as cohort_period,
        slices.*
    from slices
    inner join calendar as cohort_periods
        on cohort_periods.period_index = slices.cohort_period_index
)

select * from final
