-- The dbt MRR playbook's customer_revenue_by_month + customer_churn_month + mrr logic
-- (github.com/dbt-labs/mrr-playbook), written from its published steps, reading the same
-- Parquet as our build (the view bench_subscriptions). Adapted only where our contract
-- differs, so that the output must equal ours: trials carry no MRR, parallel subscriptions
-- (add-ons) are summed, and a month is snapshotted on its last day (as_of for the current
-- month) instead of its first, which makes the month holding a customer's last end_date the
-- churn month, so the spine includes it instead of the playbook's separate "month after the
-- last active month" rows, and the open-ended test of the join to subscriptions is a coalesce
-- instead of an OR (the same rows; see the join). $as_of is bound by the benchmark.
with subscription_periods as (
    select
        customer_id,
        start_date,
        end_date,
        case when coalesce(is_trial, false) then 0 else mrr end as monthly_amount
    from bench_subscriptions
    where start_date <= $as_of
),

months as (
    -- util_months: the month spine, each with its snapshot day
    select
        cast(month_start as date) as date_month,
        least(cast(month_start + interval 1 month as date) - 1, $as_of) as snapshot_date
    from (
        select unnest(generate_series(
            cast(date_trunc('month', min(start_date)) as date), $as_of, interval 1 month
        )) as month_start
        from subscription_periods
    )
),

customers as (
    select
        customer_id,
        date_trunc('month', min(start_date)) as date_month_start,
        date_trunc('month', max(coalesce(end_date, $as_of))) as date_month_end
    from subscription_periods
    group by customer_id
),

customer_months as (
    -- the spine joined to every customer between their first and last month
    select
        customers.customer_id,
        months.date_month,
        months.snapshot_date
    from customers
    inner join months
        on months.date_month >= customers.date_month_start
        and months.date_month <= customers.date_month_end
),

joined as (
    -- left join to the subscriptions running at the snapshot
    select
        customer_months.date_month,
        customer_months.customer_id,
        coalesce(sum(subscription_periods.monthly_amount), 0) as mrr
    from customer_months
    left join subscription_periods
        on customer_months.customer_id = subscription_periods.customer_id
        and customer_months.snapshot_date >= subscription_periods.start_date
        -- the playbook's "end_date > snapshot or end_date is null", written without the OR:
        -- duckdb 1.x runs an outer join whose ON holds an OR as a nested loop (customers²)
        and customer_months.snapshot_date
            < coalesce(subscription_periods.end_date, date '9999-12-31')
    group by customer_months.date_month, customer_months.customer_id
),

customer_revenue_by_month as (
    select
        date_month,
        customer_id,
        mrr,
        mrr > 0 as is_active,
        min(case when mrr > 0 then date_month end) over (partition by customer_id)
            as first_active_month
    from joined
),

lagged_values as (
    select
        *,
        coalesce(lag(is_active) over (partition by customer_id order by date_month), false)
            as previous_month_is_active,
        coalesce(lag(mrr) over (partition by customer_id order by date_month), 0)
            as previous_month_mrr
    from customer_revenue_by_month
),

mrr as (
    select
        date_month,
        customer_id,
        mrr,
        previous_month_mrr,
        mrr - previous_month_mrr as mrr_change,
        case
            when date_month = first_active_month then 'new'
            when not is_active and previous_month_is_active then 'churn'
            when is_active and not previous_month_is_active then 'reactivation'
            when mrr > previous_month_mrr then 'upgrade'
            when mrr < previous_month_mrr then 'downgrade'
        end as change_category
    from lagged_values
)

select * from mrr
