-- churn_presets: customer churn rate as other tools compute it, side by side, so a number can
-- be reconciled with the tool a team already trusts; `churn_rate` is the configured preset
with paid_subscriptions as (
    select
        customer_id,
        start_date,
        end_date,
        case when lower(billing_interval) = 'year' then 1 else 0 end as is_annual
    from stg_subscriptions
    where mrr > 0 and first_period_index is not null
),

periods as (
    select
        period_index,
        period_start,
        snapshot_date,
        rolling_30_start,
        rolling_365_start
    from reporting_periods
),

paying_at_snapshot as (
    -- state on a given day: a paid subscription covers it (end dates are exclusive)
    select distinct
        periods.period_index,
        paid.customer_id
    from periods
    inner join paid_subscriptions as paid
        on paid.start_date <= periods.snapshot_date
        and (paid.end_date is null or paid.end_date > periods.snapshot_date)
),

paying_30_days_before as (
    select
        periods.period_index,
        paid.customer_id,
        max(paid.is_annual) as is_annual
    from periods
    inner join paid_subscriptions as paid
        on paid.start_date <= periods.rolling_30_start
        and (paid.end_date is null or paid.end_date > periods.rolling_30_start)
    group by periods.period_index, paid.customer_id
),

paying_365_days_before as (
    select
        periods.period_index,
        paid.customer_id,
        max(paid.is_annual) as is_annual
    from periods
    inner join paid_subscriptions as paid
        on paid.start_date <= periods.rolling_365_start
        and (paid.end_date is null or paid.end_date > periods.rolling_365_start)
    group by periods.period_index, paid.customer_id
),

rolling_30 as (
    -- Stripe: churned in the trailing 30 days ÷ (paying 30 days ago + new since)
    select
        periods.period_index,
        sum(case when before.customer_id is not null then 1 else 0 end) as customers_30_start,
        sum(case when before.customer_id is not null and now.customer_id is null then 1 else 0 end)
            as customers_30_churned,
        sum(case when before.customer_id is null and now.customer_id is not null then 1 else 0 end)
            as customers_30_new,
        sum(case when before.is_annual = 0 then 1 else 0 end) as monthly_30_start,
        sum(case when before.is_annual = 0 and now.customer_id is null then 1 else 0 end)
            as monthly_30_churned
    from periods
    inner join (
        select period_index, customer_id from paying_30_days_before
        union
        select period_index, customer_id from paying_at_snapshot
    ) as anyone
        on anyone.period_index = periods.period_index
    left join paying_30_days_before as before
        on before.period_index = anyone.period_index
        and before.customer_id = anyone.customer_id
    left join paying_at_snapshot as now
        on now.period_index = anyone.period_index
        and now.customer_id = anyone.customer_id
    group by periods.period_index
),

rolling_365_annual as (
    -- Baremetrics measures annual-plan customers over 365 days instead of 30
    select
        before.period_index,
        count(*) as annual_365_start,
        sum(case when now.customer_id is null then 1 else 0 end) as annual_365_churned
    from paying_365_days_before as before
    left join paying_at_snapshot as now
        on now.period_index = before.period_index
        and now.customer_id = before.customer_id
    where before.is_annual = 1
    group by before.period_index
),

calendar_counts as (
    select
        period_index,
        customers_start,
        customers_churned
    from retention
),

rates as (
    select
        periods.period_index,
        periods.period_start as date_period,
        periods.snapshot_date,
        calendar_counts.customers_start,
        calendar_counts.customers_churned,
        customer_churn_rate(calendar_counts.customers_churned, calendar_counts.customers_start)
            as churn_rate_default,
        coalesce(rolling_30.customers_30_start, 0) as customers_30_start,
        coalesce(rolling_30.customers_30_new, 0) as customers_30_new,
        coalesce(rolling_30.customers_30_churned, 0) as customers_30_churned,
        pct(
            rolling_30.customers_30_churned,
            rolling_30.customers_30_start + rolling_30.customers_30_new
        ) as churn_rate_stripe,
        pct(
            coalesce(rolling_30.monthly_30_churned, 0)
            + coalesce(rolling_365_annual.annual_365_churned, 0),
            coalesce(rolling_30.monthly_30_start, 0)
            + coalesce(rolling_365_annual.annual_365_start, 0)
        ) as churn_rate_baremetrics,
        -- end-of-period snapshots already ignore customers who join and leave within one
        -- period, which is ProfitWell's rule: the same figure as the default
        customer_churn_rate(calendar_counts.customers_churned, calendar_counts.customers_start)
            as churn_rate_profitwell,
        :preset as preset
    from periods
    left join calendar_counts on calendar_counts.period_index = periods.period_index
    left join rolling_30 on rolling_30.period_index = periods.period_index
    left join rolling_365_annual on rolling_365_annual.period_index = periods.period_index
),

final as (
    select
        rates.*,
        case
            when preset = 'stripe' then churn_rate_stripe
            when preset = 'baremetrics' then churn_rate_baremetrics
            when preset = 'profitwell' then churn_rate_profitwell
            else churn_rate_default
        end as churn_rate
    from rates
)

select * from final
