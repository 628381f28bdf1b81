-- customer_periods: one row per customer per period, from the first paying period to the
-- period after the last one (capped at as_of), so churn is a row, never a missing one.
with subscription_rows as (
    -- only subscriptions whose snapshot window is not empty
    select
        customer_id,
        mrr,
        first_period_index,
        last_period_index
    from stg_subscriptions
    where last_period_index >= first_period_index
),

periods as (
    select
        period_index,
        period_start,
        period_end
    from calendar
),

paying_bounds as (
    -- trials and free plans (MRR 0) are not customers yet. Staged MRR is never negative
    -- (staging refuses negative amounts), so a customer pays in a period exactly when one of
    -- their subscriptions with MRR > 0 runs in it: the bounds come from the subscriptions,
    -- without expanding them into periods first
    select
        customer_id,
        min(first_period_index) as first_paying_index,
        max(last_period_index) as last_paying_index
    from subscription_rows
    where mrr > 0
    group by customer_id
),

spine as (
    -- dense: every period from the first paying one to the one after the last; the
    -- calendar stops at as_of, so the spine never runs into the future
    select
        paying_bounds.customer_id,
        paying_bounds.first_paying_index,
        paying_bounds.last_paying_index,
        periods.period_index,
        periods.period_start,
        periods.period_end
    from paying_bounds
    inner join periods
        on periods.period_index >= paying_bounds.first_paying_index
        and periods.period_index <= paying_bounds.last_paying_index + 1
),

with_previous as (
    -- snapshot rule: a subscription counts in every period whose last day (or as_of) falls
    -- in [start_date, end_date); staging turned that into an index range. Each spine row
    -- meets the customer's subscriptions running in it or in the period before, and one
    -- grouping sums both (add-ons and parallel subscriptions add up); back to the staged
    -- decimal type, so later comparisons and subtractions work on 64-bit instead of 128-bit
    -- integers (a customer over 10^12 a month fails the cast instead of being rounded). The
    -- spine's other columns have one value per (customer, period): grouping by the two keys
    -- alone and taking their max costs less than grouping by all six
    select
        spine.customer_id,
        spine.period_index,
        max(spine.period_start) as period_start,
        max(spine.period_end) as period_end,
        max(spine.first_paying_index) as first_paying_index,
        max(spine.last_paying_index) as last_paying_index,
        cast(coalesce(sum(case
            when subscription_rows.first_period_index <= spine.period_index
                and subscription_rows.last_period_index >= spine.period_index
                then subscription_rows.mrr
        end), 0) as decimal(18, 6)) as mrr,
        cast(coalesce(sum(case
            when subscription_rows.first_period_index <= spine.period_index - 1
                and subscription_rows.last_period_index >= spine.period_index - 1
                then subscription_rows.mrr
        end), 0) as decimal(18, 6)) as previous_mrr
    from spine
    left join subscription_rows
        on subscription_rows.customer_id = spine.customer_id
        and subscription_rows.first_period_index <= spine.period_index
        and subscription_rows.last_period_index >= spine.period_index - 1
    group by
        spine.customer_id,
        spine.period_index
),

classified as (
    -- zero-start branches first: testing "more than last period" first would turn every
    -- reactivation into an expansion
    select
        with_previous.*,
        case
            when previous_mrr = 0 and mrr > 0 and period_index = first_paying_index then 'new'
            when previous_mrr = 0 and mrr > 0 then 'reactivation'
            when previous_mrr > 0 and mrr = 0 then 'churn'
            when mrr > previous_mrr then 'expansion'
            when mrr < previous_mrr then 'contraction'
            when mrr > 0 then 'retained'
            else 'inactive'
        end as movement
    from with_previous
),

final as (
    -- money stays decimal: the marts sum it, and sums of decimals are exact and the same
    -- whatever order parallel threads add them in (sums of doubles are not)
    select
        classified.customer_id,
        classified.period_index,
        classified.period_start as date_period,
        classified.period_start,
        classified.period_end,
        cast(classified.mrr as decimal(18, 6)) as mrr,
        cast(classified.previous_mrr as decimal(18, 6)) as previous_mrr,
        case when classified.mrr > 0 then 1 else 0 end as is_paying,
        case when classified.previous_mrr > 0 then 1 else 0 end as was_paying,
        classified.movement,
        cast(classified.mrr - classified.previous_mrr as decimal(18, 6)) as mrr_change,
        cast(case when classified.movement = 'new' then classified.mrr else 0 end as decimal(18, 6))
            as new_mrr,
        cast(case when classified.movement = 'reactivation' then classified.mrr else 0 end as decimal(18, 6))
            as reactivation_mrr,
        cast(case when classified.movement = 'expansion' then classified.mrr - classified.previous_mrr else 0 end as decimal(18, 6))
            as expansion_mrr,
        cast(case when classified.movement = 'contraction' then classified.mrr - classified.previous_mrr else 0 end as decimal(18, 6))
            as contraction_mrr,
        cast(case when classified.movement = 'churn' then 0 - classified.previous_mrr else 0 end as decimal(18, 6))
            as churned_mrr,
        classified.first_paying_index as cohort_period_index,
        cohort_periods.period_start as cohort_period,
        classified.period_index - classified.first_paying_index as periods_since_start,
        classified.last_paying_index as last_paying_period_index,
        sr_dimensions(customer_dims),
        sr_period_dimensions(classified)
    from classified
    inner join periods as cohort_periods
        on cohort_periods.period_index = classified.first_paying_index
    left join stg_customers as customer_dims
        on customer_dims.customer_id = classified.customer_id
)

select * from final
