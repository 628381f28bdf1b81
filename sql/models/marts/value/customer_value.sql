-- customer_value: ARPA, ARR, trailing churn and formula CLTV per period, overall ("all") and
-- per value of every customer dimension (plan, segment…) and period dimension
-- (tables.subscriptions.dimensions: the plan of each period)
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
    -- each customer's dimension values; a period dimension of the same name
    -- (tables.subscriptions.dimensions) replaces the customer's
    select
        customer_id,
        dimension,
        dimension_value
    from stg_customer_dimensions
    where sr_not_a_period_dimension(dimension)
),

period_dimension_rows as (
    -- each customer row under its period's value of every period dimension (the paying
    -- subscription's plan that period, as in customer_periods); none without them
    select sr_period_dimension_rows(customer_periods)
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
    union
    select distinct
        dimension,
        dimension_value
    from period_dimension_rows
),

dimension_rows as (
    -- the customer rows under each dimension value: a customer dimension holds in every
    -- period, a period dimension is the period's own
    select
        customer_rows.customer_id,
        customer_rows.period_index,
        customer_rows.mrr,
        customer_rows.previous_mrr,
        customer_rows.movement,
        dimensions.dimension,
        dimensions.dimension_value
    from customer_rows
    inner join dimensions on dimensions.customer_id = customer_rows.customer_id
    union all
    select
        customer_id,
        period_index,
        mrr,
        previous_mrr,
        movement,
        dimension,
        dimension_value
    from period_dimension_rows
),

counts as (
    select
        period_index,
        dimension,
        dimension_value,
        sum(case when mrr > 0 then 1 else 0 end) as customers,
        sum(case when previous_mrr > 0 then 1 else 0 end) as customers_start,
        sum(case when movement = 'churn' then 1 else 0 end) as customers_churned,
        sum(mrr) as mrr
    from dimension_rows
    group by period_index, dimension, dimension_value
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
