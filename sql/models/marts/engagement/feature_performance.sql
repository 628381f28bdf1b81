-- feature_performance: next-period activity retention of a feature's adopters vs the other
-- active customers — a correlation, not the feature's effect
with periods as (
    -- every period from the first one of customer_period_features to as_of's
    select
        period_index,
        period_start
    from sr_periods_from(customer_period_features)
),

bounds as (
    select max(period_index) as last_period_index
    from periods
),

adopters as (
    -- the counts per period and feature (feature_retention_counts, whose closed periods a
    -- refresh keeps)
    select
        period_index,
        event_name,
        adopters,
        adopters_retained
    from feature_retention_counts
),

period_totals as (
    -- the same on every feature's row of a period
    select
        period_index,
        min(active_customers) as active_customers,
        min(retained_customers) as retained_customers
    from feature_retention_counts
    group by period_index
),

features as (
    select distinct event_name
    from customer_period_features
),

grid as (
    -- every feature in every period; the next period must have begun by as_of
    select
        periods.period_index,
        periods.period_start,
        features.event_name,
        case when periods.period_index + 1 <= bounds.last_period_index then 1 else 0 end
            as is_observed
    from periods
    cross join features
    cross join bounds
),

counts as (
    select
        grid.period_index,
        grid.period_start,
        grid.event_name,
        grid.is_observed,
        coalesce(adopters.adopters, 0) as adopters,
        coalesce(adopters.adopters_retained, 0) as adopters_retained,
        coalesce(period_totals.active_customers, 0) - coalesce(adopters.adopters, 0)
            as non_adopters,
        coalesce(period_totals.retained_customers, 0) - coalesce(adopters.adopters_retained, 0)
            as non_adopters_retained
    from grid
    left join adopters
        on adopters.period_index = grid.period_index
        and adopters.event_name = grid.event_name
    left join period_totals on period_totals.period_index = grid.period_index
),

final as (
    select
        period_index,
        period_start as date_period,
        event_name,
        adopters,
        case when is_observed = 1 then adopters_retained end as adopters_retained,
        case when is_observed = 1 then pct(adopters_retained, adopters) end
            as adopter_retention_rate,
        non_adopters,
        case when is_observed = 1 then non_adopters_retained end as non_adopters_retained,
        case when is_observed = 1 then pct(non_adopters_retained, non_adopters) end
            as non_adopter_retention_rate,
        case
            when is_observed = 1
                then pct(adopters_retained, adopters) - pct(non_adopters_retained, non_adopters)
        end as retention_difference
    from counts
)

select * from final
