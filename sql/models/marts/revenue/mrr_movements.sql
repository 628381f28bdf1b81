-- mrr_movements: one row per period and movement (the MRR bridge in long form, for
-- waterfalls); every movement appears in every period, with 0 when nothing moved
with customer_rows as (
    select
        period_index,
        movement,
        mrr_change
    from customer_periods
    where movement in ('new', 'reactivation', 'expansion', 'contraction', 'churn')
),

periods as (
    select
        period_index,
        period_start,
        period_end
    from reporting_periods
),

movement_types as (
    select 'new' as movement, 1 as movement_order
    union all select 'reactivation', 2
    union all select 'expansion', 3
    union all select 'contraction', 4
    union all select 'churn', 5
),

totals as (
    select
        period_index,
        movement,
        count(*) as customers,
        sum(mrr_change) as mrr_amount
    from customer_rows
    group by period_index, movement
),

final as (
    select
        periods.period_index,
        periods.period_start as date_period,
        periods.period_start,
        movement_types.movement,
        movement_types.movement_order,
        coalesce(totals.customers, 0) as customers,
        cast(coalesce(totals.mrr_amount, 0) as double) as mrr_amount
    from periods
    cross join movement_types
    left join totals
        on totals.period_index = periods.period_index
        and totals.movement = movement_types.movement
)

select * from final
