-- feature_adoption: per period and feature, the share of active customers who used it. The
-- per-period counts come from feature_retention_counts (kept for closed periods by a refresh);
-- this model puts them on the grid of every period and every feature seen in any period
with counts as (
    -- one row per period and feature used in it; active_customers is the period's
    select
        period_index,
        event_name,
        adopters,
        adopter_users,
        events,
        active_customers
    from feature_retention_counts
),

periods as (
    select
        period_index,
        period_start
    from sr_periods_from(feature_retention_counts)
),

features as (
    select distinct event_name
    from counts
),

active as (
    select
        period_index,
        max(active_customers) as active_customers
    from counts
    group by period_index
),

grid as (
    select
        periods.period_index,
        periods.period_start,
        features.event_name
    from periods
    cross join features
),

final as (
    select
        grid.period_index,
        grid.period_start as date_period,
        grid.event_name,
        coalesce(active.active_customers, 0) as active_customers,
        coalesce(counts.adopters, 0) as feature_customers,
        adoption_rate(coalesce(counts.adopters, 0), active.active_customers)
            as adoption_rate,
        coalesce(counts.adopter_users, 0) as feature_users,
        coalesce(counts.events, 0) as events
    from grid
    left join active on active.period_index = grid.period_index
    left join counts
        on counts.period_index = grid.period_index
        and counts.event_name = grid.event_name
)

select * from final
