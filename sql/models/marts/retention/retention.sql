-- retention: one row per period — customer counts, MRR movements, CRR, churn, NRR and GRR
with customer_rows as (
    select
        customer_id,
        period_index,
        mrr,
        previous_mrr,
        movement,
        new_mrr,
        reactivation_mrr,
        expansion_mrr,
        contraction_mrr,
        churned_mrr
    from customer_periods
),

periods as (
    select
        period_index,
        period_start,
        period_end
    from reporting_periods
),

acquisitions as (
    -- textbook CRR counts every customer who started paying during the period, including
    -- those who left again before its end (invisible to end-of-period snapshots)
    select
        stg_subscriptions.start_period_index as period_index,
        count(distinct stg_subscriptions.customer_id) as customers_acquired_all
    from stg_subscriptions
    left join customer_rows as at_start
        on at_start.customer_id = stg_subscriptions.customer_id
        and at_start.period_index = stg_subscriptions.start_period_index - 1
    where stg_subscriptions.mrr > 0
        and stg_subscriptions.first_period_index is not null
        and coalesce(at_start.mrr, 0) = 0
    group by stg_subscriptions.start_period_index
),

counts as (
    select
        period_index,
        sum(case when previous_mrr > 0 then 1 else 0 end) as customers_start,
        sum(case when mrr > 0 then 1 else 0 end) as customers_end,
        sum(case when movement = 'new' then 1 else 0 end) as customers_new,
        sum(case when movement = 'reactivation' then 1 else 0 end) as customers_reactivated,
        sum(case when movement = 'expansion' then 1 else 0 end) as customers_expanded,
        sum(case when movement = 'contraction' then 1 else 0 end) as customers_contracted,
        sum(case when movement = 'churn' then 1 else 0 end) as customers_churned,
        sum(previous_mrr) as mrr_start,
        sum(mrr) as mrr_end,
        sum(new_mrr) as new_mrr,
        sum(reactivation_mrr) as reactivation_mrr,
        sum(expansion_mrr) as expansion_mrr,
        sum(contraction_mrr) as contraction_mrr,
        sum(churned_mrr) as churned_mrr
    from customer_rows
    group by period_index
),

base_customers as (
    -- customers paying at a base period, for trailing NRR / GRR
    select
        customer_id,
        period_index,
        mrr
    from customer_rows
    where mrr > 0
),

trailing_year as (
    -- MRR now of the customers paying one year earlier; rows after the last paying period
    -- are absent from the spine and count as 0
    select
        base_customers.period_index + :periods_per_year as period_index,
        sum(base_customers.mrr) as mrr_base_12m,
        sum(coalesce(later.mrr, 0)) as mrr_now_12m,
        sum(
            case
                when coalesce(later.mrr, 0) < base_customers.mrr then coalesce(later.mrr, 0)
                else base_customers.mrr
            end
        ) as mrr_now_capped_12m
    from base_customers
    left join customer_rows as later
        on later.customer_id = base_customers.customer_id
        and later.period_index = base_customers.period_index + :periods_per_year
    group by base_customers.period_index + :periods_per_year
),

joined as (
    select
        periods.period_index,
        periods.period_start,
        periods.period_end,
        coalesce(counts.customers_start, 0) as customers_start,
        coalesce(counts.customers_end, 0) as customers_end,
        coalesce(counts.customers_new, 0) as customers_new,
        coalesce(counts.customers_reactivated, 0) as customers_reactivated,
        coalesce(counts.customers_expanded, 0) as customers_expanded,
        coalesce(counts.customers_contracted, 0) as customers_contracted,
        coalesce(counts.customers_churned, 0) as customers_churned,
        coalesce(acquisitions.customers_acquired_all, 0) as customers_acquired_all,
        cast(coalesce(counts.mrr_start, 0) as double) as mrr_start,
        cast(coalesce(counts.mrr_end, 0) as double) as mrr_end,
        cast(coalesce(counts.new_mrr, 0) as double) as new_mrr,
        cast(coalesce(counts.reactivation_mrr, 0) as double) as reactivation_mrr,
        cast(coalesce(counts.expansion_mrr, 0) as double) as expansion_mrr,
        cast(coalesce(counts.contraction_mrr, 0) as double) as contraction_mrr,
        cast(coalesce(counts.churned_mrr, 0) as double) as churned_mrr,
        cast(trailing_year.mrr_base_12m as double) as mrr_base_12m,
        cast(trailing_year.mrr_now_12m as double) as mrr_now_12m,
        cast(trailing_year.mrr_now_capped_12m as double) as mrr_now_capped_12m
    from periods
    left join counts on counts.period_index = periods.period_index
    left join acquisitions on acquisitions.period_index = periods.period_index
    left join trailing_year on trailing_year.period_index = periods.period_index
),

final as (
    select
        period_index,
        period_start as date_period,
        period_start,
        period_end,
        customers_start,
        customers_end,
        customers_new,
        customers_reactivated,
        customers_expanded,
        customers_contracted,
        customers_churned,
        customers_acquired_all,
        crr(customers_start, customers_end, customers_new + customers_reactivated) as crr,
        crr_textbook(customers_start, customers_end, customers_acquired_all) as crr_textbook,
        customer_churn_rate(customers_churned, customers_start) as customer_churn_rate,
        retention_rate(customers_start, customers_end) as net_customer_growth,
        mrr_start,
        mrr_end,
        new_mrr,
        reactivation_mrr,
        expansion_mrr,
        contraction_mrr,
        churned_mrr,
        nrr(mrr_start, mrr_start + expansion_mrr + contraction_mrr + churned_mrr) as nrr,
        grr(mrr_start, mrr_start + contraction_mrr + churned_mrr) as grr,
        gross_mrr_churn(contraction_mrr, churned_mrr, mrr_start) as gross_mrr_churn,
        net_mrr_churn(expansion_mrr, contraction_mrr, churned_mrr, mrr_start) as net_mrr_churn,
        quick_ratio(new_mrr, expansion_mrr, reactivation_mrr, contraction_mrr, churned_mrr)
            as quick_ratio,
        arpa(mrr_end, customers_end) as arpa,
        arr(mrr_end) as arr,
        mrr_base_12m,
        mrr_now_12m,
        nrr(mrr_base_12m, mrr_now_12m) as nrr_12m,
        grr(mrr_base_12m, mrr_now_capped_12m) as grr_12m
    from joined
)

select * from final
