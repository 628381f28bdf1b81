-- cohort_customers_rollup: cohort_customers summed per cohort, age and combination of
-- dimension values. The cohort heatmap reads it: the plan and segment filters reach it as
-- they reach cohort_customers, which holds a row per customer and age (at 1M generated
-- customers with four dimensions: 359k rows against 9.2M, the heatmap's query 0.10 s
-- against 0.20 s)
with slices as (
    select
        cohort_period_index,
        period_number,
        count(*) as cohort_customers,
        -- bigint, not DuckDB's HUGEINT sum: the heatmap sums it again (see customer_sessions)
        cast(sum(is_retained) as bigint) as retained_customers,
        -- summed exactly, as whole millionths (cohort_customers stores doubles of the
        -- decimal money type): a sum of doubles depends on the order the engine's threads
        -- add them in (a refresh and a full build differed in the last digits), and
        -- ClickHouse truncates a double cast to a decimal (131.67 became 131.669999); floor
        -- of + 0.5 rounds the same on every engine (round(x, 0) fails on PostgreSQL's
        -- doubles, round(x) on SQL Server) and MRR is never negative
        cast(sum(cast(floor(cohort_mrr * 1000000 + 0.5) as bigint)) as double) / 1000000
            as cohort_mrr,
        cast(sum(cast(floor(retained_mrr * 1000000 + 0.5) as bigint)) as double) / 1000000
            as retained_mrr,
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
