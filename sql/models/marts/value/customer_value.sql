-- customer_value: ARPA, ARR, trailing churn and formula CLTV per period, overall ("all") and
-- per value of every customer dimension (plan, segment…)
with customer_rows as (
    select
        customer_id,
        period_index,
        mrr,
        previous_mrr,
        movement
    from customer_periods
),

dimensions as (
    select
        customer_id,
        dimension,
        dimension_value
    from stg_customer_dimensions
),

periods as (
    select
        period_index,
        period_start
    from reporting_periods
),

dimension_groups as (
    select distinct
        dimension,
        dimension_value
    from dimensions
),

counts as (
    select
        customer_rows.period_index,
        dimensions.dimension,
        dimensions.dimension_value,
        sum(case when customer_rows.mrr > 0 then 1 else 0 end) as customers,
        sum(case when customer_rows.previous_mrr > 0 then 1 else 0 end) as customers_start,
        sum(case when customer_rows.movement = 'churn' then 1 else 0 end) as customers_churned,
        sum(customer_rows.mrr) as mrr
    from customer_rows
    inner join dimensions on dimensions.customer_id = customer_rows.customer_id
    group by customer_rows.period_index, dimensions.dimension, dimensions.dimension_value
),

dense as (
    -- every group in every period, so the trailing window counts periods, not rows
    select
        periods.period_index,
        periods.period_start,
        dimension_groups.dimension,
        dimension_groups.dimension_value,
        coalesce(counts.customers, 0) as customers,
        coalesce(counts.customers_start, 0) as customers_start,
        coalesce(counts.customers_churned, 0) as customers_churned,
        cast(coalesce(counts.mrr, 0) as double) as mrr,
        customer_churn_rate(counts.customers_churned, counts.customers_start) as churn_rate
    from periods
    cross join dimension_groups
    left join counts
        on counts.period_index = periods.period_index
        and counts.dimension = dimension_groups.dimension
        and counts.dimension_value = dimension_groups.dimension_value
),

with_trailing_churn as (
    -- churn averaged over the trailing window of periods (periods without customers at
    -- their start have no churn rate and are left out of the average)
    select
        dense.*,
        avg(churn_rate) over (
            partition by dimension, dimension_value
            order by period_index
            rows between :churn_window_preceding preceding and current row
        ) as churn_rate_trailing,
        count(churn_rate) over (
            partition by dimension, dimension_value
            order by period_index
            rows between :churn_window_preceding preceding and current row
        ) as churn_periods_in_window
    from dense
),

final as (
    select
        period_index,
        period_start as date_period,
        dimension,
        dimension_value,
        customers,
        customers_start,
        customers_churned,
        mrr,
        arr(mrr) as arr,
        arpa(mrr, customers) as arpa,
        churn_rate,
        churn_rate_trailing,
        churn_periods_in_window,
        :gross_margin as gross_margin,
        cltv(arpa(mrr, customers), :gross_margin, churn_rate_trailing) as cltv
    from with_trailing_churn
)

select * from final
