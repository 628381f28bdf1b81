-- cohort_retention: logo and revenue retention by cohort (first paying period) and age
with customer_rows as (
    select
        customer_id,
        period_index,
        mrr,
        cohort_period_index,
        last_paying_period_index
    from customer_periods
),

periods as (
    select
        period_index,
        period_start
    from calendar
),

cohorts as (
    select
        cohort_period_index,
        count(*) as cohort_size,
        sum(mrr) as cohort_mrr
    from customer_rows
    where period_index = cohort_period_index
    group by cohort_period_index
),

bounds as (
    -- cells after as_of's period are the future (NULL); the calendar ends there, while a
    -- cohort whose customers all churned has no customer rows left long before it
    select
        min(customer_rows.cohort_period_index) as first_cohort_index,
        max(calendar_end.last_period_index) as last_period_index
    from customer_rows
    cross join (select max(period_index) as last_period_index from calendar) as calendar_end
),

ages as (
    -- the full square up to the oldest cohort's age, so future cells exist and are NULL
    select periods.period_index - bounds.first_cohort_index as period_number
    from periods
    cross join bounds
    where periods.period_index >= bounds.first_cohort_index
),

cells as (
    select
        customer_rows.cohort_period_index,
        customer_rows.period_index - customer_rows.cohort_period_index as period_number,
        sum(case when customer_rows.mrr > 0 then 1 else 0 end) as retained_customers,
        sum(customer_rows.mrr) as retained_mrr
    from customer_rows
    group by
        customer_rows.cohort_period_index,
        customer_rows.period_index - customer_rows.cohort_period_index
),

on_or_after as (
    -- customers paying at age k or at any later age
    select
        cohorts.cohort_period_index,
        ages.period_number,
        sum(
            case
                when customer_rows.last_paying_period_index
                    >= cohorts.cohort_period_index + ages.period_number then 1
                else 0
            end
        ) as retained_customers_on_or_after
    from cohorts
    cross join ages
    inner join customer_rows
        on customer_rows.cohort_period_index = cohorts.cohort_period_index
        and customer_rows.period_index = customer_rows.cohort_period_index
    group by cohorts.cohort_period_index, ages.period_number
),

grid as (
    select
        cohorts.cohort_period_index,
        cohorts.cohort_size,
        cohorts.cohort_mrr,
        ages.period_number,
        case
            when cohorts.cohort_period_index + ages.period_number <= bounds.last_period_index
                then 1
            else 0
        end as is_observed
    from cohorts
    cross join ages
    cross join bounds
),

final as (
    select
        cohort_periods.period_start as cohort_period,
        grid.cohort_period_index,
        grid.period_number,
        grid.cohort_size,
        cast(grid.cohort_mrr as double) as cohort_mrr,
        case when grid.is_observed = 1 then coalesce(cells.retained_customers, 0) end
            as retained_customers,
        case
            when grid.is_observed = 1
                then pct(coalesce(cells.retained_customers, 0), grid.cohort_size)
        end as retention_rate,
        case when grid.is_observed = 1 then cast(coalesce(cells.retained_mrr, 0) as double) end
            as retained_mrr,
        case
            when grid.is_observed = 1
                then pct(coalesce(cells.retained_mrr, 0), grid.cohort_mrr)
        end as revenue_retention,
        case when grid.is_observed = 1 then on_or_after.retained_customers_on_or_after end
            as retained_customers_on_or_after,
        case
            when grid.is_observed = 1
                then pct(on_or_after.retained_customers_on_or_after, grid.cohort_size)
        end as retention_rate_on_or_after
    from grid
    inner join periods as cohort_periods
        on cohort_periods.period_index = grid.cohort_period_index
    left join cells
        on cells.cohort_period_index = grid.cohort_period_index
        and cells.period_number = grid.period_number
    left join on_or_after
        on on_or_after.cohort_period_index = grid.cohort_period_index
        and on_or_after.period_number = grid.period_number
)

select * from final
