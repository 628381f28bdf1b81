-- trailing_year_customers: each customer paying one year before a period, with its MRR then
-- and now and the customer's dimensions (and period dimensions as of the year's base period),
-- so trailing-year NRR / GRR sum up under any filter
with customer_rows as (
    select
        customer_id,
        period_index,
        mrr,
        sr_period_dimension_columns(customer_periods)
    from customer_periods
),

periods as (
    select
        period_index,
        period_start
    from calendar
),

final as (
    select
        periods.period_index,
        periods.period_start as date_period,
        base.customer_id,
        cast(base.mrr as double) as mrr_base_12m,
        -- rows after the period following the last paying one are absent: MRR 0
        cast(coalesce(later.mrr, 0) as double) as mrr_now_12m,
        cast(
            case
                when coalesce(later.mrr, 0) < base.mrr then coalesce(later.mrr, 0)
                else base.mrr
            end as double
        ) as mrr_now_capped_12m,
        sr_dimensions(customer_dims),
        sr_period_dimension_columns(base)
    from customer_rows as base
    inner join periods
        on periods.period_index = base.period_index + :periods_per_year
    left join customer_rows as later
        on later.customer_id = base.customer_id
        and later.period_index = periods.period_index
    left join stg_customers as customer_dims
        on customer_dims.customer_id = base.customer_id
    where base.mrr > 0
)

select * from final
