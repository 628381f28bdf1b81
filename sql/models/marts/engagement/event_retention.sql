-- event_retention: weekly usage cohorts — customers by the calendar week of their first
-- activity, and the share active again k weeks later ("on" week k) or at week k or later
-- ("on or after"); the "35 % at week 8" benchmark sits beside week 8
with activity as (
    select
        customer_id,
        week_index
    from customer_daily_activity
),

weeks as (
    select
        week_index,
        min(activity_date) as week_start
    from calendar_days
    group by week_index
),

bounds as (
    select
        min(week_index) as first_week_index,
        max(week_index) as last_week_index
    from weeks
),

customer_weeks as (
    select
        customer_id,
        week_index
    from activity
    group by customer_id, week_index
),

customer_spans as (
    -- cohort = first activity week over the whole history
    select
        customer_id,
        min(week_index) as cohort_week_index,
        max(week_index) as last_active_week_index
    from customer_weeks
    group by customer_id
),

cohorts as (
    select
        cohort_week_index,
        count(*) as cohort_size
    from customer_spans
    group by cohort_week_index
),

first_cohort as (
    select min(cohort_week_index) as cohort_week_index
    from cohorts
),

ages as (
    -- the full square up to the oldest cohort's age, so future cells exist and are NULL
    select weeks.week_index - first_cohort.cohort_week_index as week_number
    from weeks
    cross join first_cohort
    where weeks.week_index >= first_cohort.cohort_week_index
),

cells as (
    select
        customer_spans.cohort_week_index,
        customer_weeks.week_index - customer_spans.cohort_week_index as week_number,
        count(*) as retained_customers
    from customer_weeks
    inner join customer_spans on customer_spans.customer_id = customer_weeks.customer_id
    group by
        customer_spans.cohort_week_index,
        customer_weeks.week_index - customer_spans.cohort_week_index
),

span_counts as (
    -- customers per cohort and weeks from the cohort to their last active week: a cohort's
    -- few hundred spans, not its customers, meet the ages below
    select
        cohort_week_index,
        last_active_week_index - cohort_week_index as active_weeks,
        count(*) as customers
    from customer_spans
    group by cohort_week_index, last_active_week_index - cohort_week_index
),

on_or_after as (
    -- active at week k or at any later week: last active week at cohort + k or later
    select
        span_counts.cohort_week_index,
        ages.week_number,
        cast(sum(span_counts.customers) as bigint) as retained_customers_on_or_after
    from span_counts
    inner join ages on span_counts.active_weeks >= ages.week_number
    group by span_counts.cohort_week_index, ages.week_number
),

grid as (
    select
        cohorts.cohort_week_index,
        cohorts.cohort_size,
        ages.week_number,
        case
            when cohorts.cohort_week_index + ages.week_number <= bounds.last_week_index then 1
            else 0
        end as is_observed
    from cohorts
    cross join ages
    cross join bounds
),

final as (
    select
        weeks.week_start as cohort_week,
        grid.cohort_week_index,
        grid.week_number,
        grid.cohort_size,
        case when grid.is_observed = 1 then coalesce(cells.retained_customers, 0) end
            as retained_customers,
        case
            when grid.is_observed = 1
                then usage_retention(coalesce(cells.retained_customers, 0), grid.cohort_size)
        end as retention_rate,
        case
            when grid.is_observed = 1
                then coalesce(on_or_after.retained_customers_on_or_after, 0)
        end as retained_customers_on_or_after,
        case
            when grid.is_observed = 1
                then usage_retention(
                    coalesce(on_or_after.retained_customers_on_or_after, 0), grid.cohort_size
                )
        end as retention_rate_on_or_after,
        case when grid.week_number = 8 then cast(35 as double) end as benchmark_rate
    from grid
    inner join weeks on weeks.week_index = grid.cohort_week_index
    left join cells
        on cells.cohort_week_index = grid.cohort_week_index
        and cells.week_number = grid.week_number
    left join on_or_after
        on on_or_after.cohort_week_index = grid.cohort_week_index
        and on_or_after.week_number = grid.week_number
)

select * from final
