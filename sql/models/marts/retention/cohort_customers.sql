-- cohort_customers: every cohort customer at every observed age, with the customer's
-- dimensions (and period dimensions as of the cohort's first period), so cohort retention
-- sums up under any plan / segment filter
with members as (
    select
        customer_id,
        cohort_period_index,
        mrr as cohort_mrr,
        sr_period_dimension_columns(customer_periods)
    from customer_periods
    where period_index = cohort_period_index
),

periods as (
    select
        period_index,
        period_start
    from calendar
),

final as (
    select
        cohort_periods.period_start as cohort_period,
        members.cohort_period_index,
        periods.period_index - members.cohort_period_index as period_number,
        members.customer_id,
        -- rows after the period following the last paying one are absent: not paying
        case when coalesce(later.mrr, 0) > 0 then 1 else 0 end as is_retained,
        cast(members.cohort_mrr as double) as cohort_mrr,
        cast(coalesce(later.mrr, 0) as double) as retained_mrr,
        sr_dimensions(customer_dims),
        sr_period_dimension_columns(members)
    from members
    inner join periods as cohort_periods
        on cohort_periods.period_index = members.cohort_period_index
    cross join periods
    left join customer_periods as later
        on later.customer_id = members.customer_id
        and later.period_index = periods.period_index
    left join stg_customers as customer_dims
        on customer_dims.customer_id = members.customer_id
    where periods.period_index >= members.cohort_period_index
)

select * from final
