-- churn_reasons: churned customers per period by the cancel_reason of the subscriptions
-- that ended
with churn_rows as (
    select
        customer_id,
        period_index,
        churned_mrr
    from customer_periods
    where movement = 'churn'
),

ended_subscriptions as (
    select
        customer_id,
        last_period_index,
        cancel_reason
    from stg_subscriptions
    where mrr > 0
        and first_period_index is not null
        and last_period_index >= first_period_index
),

periods as (
    select
        period_index,
        period_start
    from calendar
),

reasons as (
    -- the subscriptions last counted in the period before the churn are the ones that ended;
    -- several reasons for one churn: the alphabetically last one, for a stable answer
    select
        churn_rows.customer_id,
        churn_rows.period_index,
        min(churn_rows.churned_mrr) as churned_mrr,
        coalesce(max(ended_subscriptions.cancel_reason), '(none)') as cancel_reason
    from churn_rows
    left join ended_subscriptions
        on ended_subscriptions.customer_id = churn_rows.customer_id
        and ended_subscriptions.last_period_index = churn_rows.period_index - 1
    group by churn_rows.customer_id, churn_rows.period_index
),

counts as (
    select
        period_index,
        cancel_reason,
        count(*) as churned_customers,
        sum(churned_mrr) as churned_mrr
    from reasons
    group by period_index, cancel_reason
),

period_totals as (
    select
        period_index,
        count(*) as churned_customers
    from reasons
    group by period_index
),

final as (
    select
        counts.period_index,
        periods.period_start as date_period,
        counts.cancel_reason,
        counts.churned_customers,
        cast(counts.churned_mrr as double) as churned_mrr,
        pct(counts.churned_customers, period_totals.churned_customers) as share_of_churned
    from counts
    inner join periods on periods.period_index = counts.period_index
    inner join period_totals on period_totals.period_index = counts.period_index
)

select * from final
