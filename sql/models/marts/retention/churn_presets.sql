-- churn_presets: customer churn rate as other tools compute it, side by side, so a number can
-- be reconciled with the tool a team already trusts; `churn_rate` is the configured preset
with paid_subscriptions as (
    -- Baremetrics measures every plan that is not monthly over 365 days (a subscription
    -- without a billing interval is taken as monthly)
    select
        customer_id,
        start_date,
        end_date,
        case
            when billing_interval is null then 0
            when lower(billing_interval) = 'month' then 0
            else 1
        end as is_non_monthly
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
        min(paid.is_non_monthly) as is_non_monthly_only,
        max(1 - paid.is_non_monthly) as has_monthly
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
        max(paid.is_non_monthly) as has_non_monthly
    from periods
    inner join paid_subscriptions as paid
        on paid.start_date <= periods.rolling_365_start
        and (paid.end_date is null or paid.end_date > periods.rolling_365_start)
    group by periods.period_index, paid.customer_id
),

ended_days as (
    -- days on which a paid subscription of the customer ended (zero-length ones never paid)
    select
        customer_id,
        end_date as churn_date,
        max(is_non_monthly) as has_non_monthly,
        max(1 - is_non_monthly) as has_monthly
    from paid_subscriptions
    where end_date is not null and start_date < end_date
    group by customer_id, end_date
),

covered_days as (
    -- the ended days a paid subscription still covers, found by an inner join (its OR is a
    -- filter after the join): the same OR inside the outer join below would be a nested-loop
    -- join in duckdb 1.x (Superset's pin), quadratic in customers
    select distinct
        ended.customer_id,
        ended.churn_date
    from ended_days as ended
    inner join paid_subscriptions as covering
        on covering.customer_id = ended.customer_id
        and covering.start_date <= ended.churn_date
    where covering.end_date is null or covering.end_date > ended.churn_date
),

churn_events as (
    -- the customer goes from paying to not paying: it paid the day before (the subscription
    -- ending that day covered it) and nothing covers the day itself. Every event counts, so a
    -- customer who churns, returns and churns again inside a window churned twice
    select
        ended.customer_id,
        ended.churn_date,
        ended.has_non_monthly,
        ended.has_monthly
    from ended_days as ended
    left join covered_days as covered
        on covered.customer_id = ended.customer_id
        and covered.churn_date = ended.churn_date
    where covered.customer_id is null
),

preceded_starts as (
    -- the start days something already covered the day before (inner join: see covered_days)
    select distinct
        started.customer_id,
        started.start_date
    from paid_subscriptions as started
    inner join paid_subscriptions as before
        on before.customer_id = started.customer_id
        and before.start_date < started.start_date
    where before.end_date is null or before.end_date >= started.start_date
),

start_events as (
    -- the customer goes from not paying to paying: nothing covered the day before
    -- (start < that day's start and end on or after it), new and returning customers alike
    select distinct
        started.customer_id,
        started.start_date
    from paid_subscriptions as started
    left join preceded_starts as preceded
        on preceded.customer_id = started.customer_id
        and preceded.start_date = started.start_date
    where
        (started.end_date is null or started.end_date > started.start_date)
        and preceded.customer_id is null
),

churn_30 as (
    -- churn events in the 30 days up to the snapshot: (snapshot − 30, snapshot], the same days
    -- as the change from the state 30 days before to the state at the snapshot
    select
        periods.period_index,
        count(*) as churn_events,
        count(distinct churn_events.customer_id) as churned_customers,
        count(distinct case when churn_events.has_monthly = 1 then churn_events.customer_id end)
            as monthly_churned_customers
    from periods
    inner join churn_events
        on churn_events.churn_date > periods.rolling_30_start
        and churn_events.churn_date <= periods.snapshot_date
    group by periods.period_index
),

churn_365 as (
    select
        periods.period_index,
        count(distinct churn_events.customer_id) as non_monthly_churned_customers
    from periods
    inner join churn_events
        on churn_events.churn_date > periods.rolling_365_start
        and churn_events.churn_date <= periods.snapshot_date
        and churn_events.has_non_monthly = 1
    group by periods.period_index
),

starts_30 as (
    select
        periods.period_index,
        count(*) as start_events
    from periods
    inner join start_events
        on start_events.start_date > periods.rolling_30_start
        and start_events.start_date <= periods.snapshot_date
    group by periods.period_index
),

start_30 as (
    select
        period_index,
        count(*) as customers_30_start,
        sum(has_monthly) as monthly_30_start
    from paying_30_days_before
    group by period_index
),

start_365 as (
    select
        period_index,
        sum(has_non_monthly) as non_monthly_365_start
    from paying_365_days_before
    group by period_index
),

calendar_counts as (
    select
        period_index,
        customers_start,
        customers_churned,
        customer_churn_rate,
        mrr_start,
        new_mrr,
        expansion_mrr,
        reactivation_mrr,
        contraction_mrr,
        churned_mrr,
        arpa
    from retention
),

chartmogul_churn as (
    -- ChartMogul's LTV divides by the average customer churn rate of the six periods before
    -- the current one, the current one left out
    select
        period_index,
        avg(customer_churn_rate) over (
            order by period_index
            rows between 6 preceding and 1 preceding
        ) as churn_rate_previous_6
    from calendar_counts
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
        coalesce(start_30.customers_30_start, 0) as customers_30_start,
        coalesce(starts_30.start_events, 0) as customers_30_new,
        coalesce(churn_30.churn_events, 0) as customers_30_churned,
        coalesce(churn_30.churned_customers, 0) as customers_30_churned_customers,
        pct(
            coalesce(churn_30.churn_events, 0),
            coalesce(start_30.customers_30_start, 0) + coalesce(starts_30.start_events, 0)
        ) as churn_rate_stripe,
        pct(coalesce(churn_30.churned_customers, 0), start_30.customers_30_start)
            as churn_rate_baremetrics,
        coalesce(start_30.monthly_30_start, 0) as monthly_30_start,
        coalesce(churn_30.monthly_churned_customers, 0) as monthly_30_churned,
        pct(coalesce(churn_30.monthly_churned_customers, 0), start_30.monthly_30_start)
            as churn_rate_baremetrics_monthly,
        coalesce(start_365.non_monthly_365_start, 0) as non_monthly_365_start,
        coalesce(churn_365.non_monthly_churned_customers, 0) as non_monthly_365_churned,
        pct(
            coalesce(churn_365.non_monthly_churned_customers, 0),
            start_365.non_monthly_365_start
        ) as churn_rate_baremetrics_non_monthly,
        -- end-of-period snapshots already ignore customers who join and leave within one
        -- period, which is ProfitWell's rule: the same figure as the default
        customer_churn_rate(calendar_counts.customers_churned, calendar_counts.customers_start)
            as churn_rate_profitwell,
        -- ChartMogul's net MRR churn offsets reactivation as well as expansion
        net_mrr_churn(
            calendar_counts.expansion_mrr + calendar_counts.reactivation_mrr,
            calendar_counts.contraction_mrr,
            calendar_counts.churned_mrr,
            calendar_counts.mrr_start
        ) as net_mrr_churn_chartmogul,
        chartmogul_churn.churn_rate_previous_6 as churn_rate_chartmogul_ltv,
        safe_divide(calendar_counts.arpa, chartmogul_churn.churn_rate_previous_6 / 100)
            as ltv_chartmogul,
        -- Baremetrics' quick ratio: new and expansion MRR only, reactivation left out
        quick_ratio(
            calendar_counts.new_mrr,
            calendar_counts.expansion_mrr,
            0,
            calendar_counts.contraction_mrr,
            calendar_counts.churned_mrr
        ) as quick_ratio_baremetrics,
        :preset as preset
    from periods
    left join calendar_counts on calendar_counts.period_index = periods.period_index
    left join chartmogul_churn on chartmogul_churn.period_index = periods.period_index
    left join start_30 on start_30.period_index = periods.period_index
    left join starts_30 on starts_30.period_index = periods.period_index
    left join churn_30 on churn_30.period_index = periods.period_index
    left join start_365 on start_365.period_index = periods.period_index
    left join churn_365 on churn_365.period_index = periods.period_index
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
