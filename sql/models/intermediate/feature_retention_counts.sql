-- feature_retention_counts: per period and feature, the feature's adopters (active customers
-- who used it), their users and events, and how many of them were active again in the next
-- period, beside the period's active and retained customers; feature_performance and
-- feature_adoption put them on their grids. A row
-- reads its own period and the next one, so a refresh keeps the rows of the periods before
-- the one ahead of the first recomputed
with customer_features as (
    -- one row per customer, period and feature used
    select
        customer_id,
        period_index,
        event_name,
        users,
        events
    from customer_period_features
),

customer_active as (
    select
        customer_id,
        period_index
    from customer_features
    group by customer_id, period_index
),

with_next as (
    -- retained = active again in the next period
    select
        customer_active.customer_id,
        customer_active.period_index,
        case when next_period.customer_id is not null then 1 else 0 end as is_retained
    from customer_active
    left join customer_active as next_period
        on next_period.customer_id = customer_active.customer_id
        and next_period.period_index = customer_active.period_index + 1
),

period_totals as (
    select
        period_index,
        count(*) as active_customers,
        sum(is_retained) as retained_customers
    from with_next
    group by period_index
),

adopters as (
    select
        customer_features.period_index,
        customer_features.event_name,
        count(*) as adopters,
        sum(with_next.is_retained) as adopters_retained,
        cast(sum(customer_features.users) as bigint) as adopter_users,
        sum(customer_features.events) as events
    from customer_features
    inner join with_next
        on with_next.customer_id = customer_features.customer_id
        and with_next.period_index = customer_features.period_index
    group by customer_features.period_index, customer_features.event_name
),

final as (
    -- a period with active customers has a feature used: period_totals has a row for every
    -- period of adopters and for no other
    select
        adopters.period_index,
        adopters.event_name,
        adopters.adopters,
        adopters.adopters_retained,
        adopters.adopter_users,
        adopters.events,
        period_totals.active_customers,
        period_totals.retained_customers
    from adopters
    inner join period_totals on period_totals.period_index = adopters.period_index
)

select * from final
