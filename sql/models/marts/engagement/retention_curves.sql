-- retention_curves: event retention the way product-analytics tools draw it — one curve per
-- `retention_curves` entry of the config (start and return event, first-time or recurring
-- cohorts, "on" or "on or after" period k, day / week / month); without any, the one curve
-- equal to event_retention's "on" cells
with curve_settings as (
    -- the configured curves, one row each, written in by the compiler from the settings
    select sr_retention_curves()
),

any_event_days as (
    -- customer-days with any event, for the curves whose start or return event is 'any':
    -- the per-day activity already grouped, not another pass over the raw events
    select
        customer_id,
        day_index,
        week_index,
        month_index
    from customer_daily_activity
),

named_event_days as (
    -- customer-days with a named start or return event of some curve (the daily feature rows
    -- hold every event that has a name); the compiler writes the curves' event names in, so
    -- an 'any'-only config reads none of them
    select
        customer_id,
        event_name,
        day_index,
        min(week_index) as week_index,
        min(month_index) as month_index
    from customer_daily_features
    where event_name in (sr_retention_curve_events())
    group by customer_id, event_name, day_index
),

grain_periods as (
    -- the periods of each grain from the first day of data to as_of; a period cut by the
    -- start of the calendar starts on its first day
    select
        'day' as grain,
        day_index as period_index,
        min(activity_date) as period_start
    from calendar_days
    group by day_index
    union all
    select
        'week' as grain,
        week_index as period_index,
        min(activity_date) as period_start
    from calendar_days
    group by week_index
    union all
    select
        'month' as grain,
        month_index as period_index,
        min(activity_date) as period_start
    from calendar_days
    group by month_index
),

grain_bounds as (
    select
        grain,
        max(period_index) as last_period_index
    from grain_periods
    group by grain
),

curve_events as (
    -- each customer-day's events seen by each curve, in the curve's grain: an 'any' event of
    -- the curve on every active day, its named events on the days that have them
    select
        curve_settings.curve,
        any_event_days.customer_id,
        case
            when curve_settings.grain = 'day' then any_event_days.day_index
            when curve_settings.grain = 'week' then any_event_days.week_index
            else any_event_days.month_index
        end as period_index,
        case when curve_settings.start_event = 'any' then 1 else 0 end as is_start,
        case when curve_settings.return_event = 'any' then 1 else 0 end as is_return
    from any_event_days
    cross join curve_settings
    where curve_settings.start_event = 'any' or curve_settings.return_event = 'any'
    union all
    select
        curve_settings.curve,
        named_event_days.customer_id,
        case
            when curve_settings.grain = 'day' then named_event_days.day_index
            when curve_settings.grain = 'week' then named_event_days.week_index
            else named_event_days.month_index
        end as period_index,
        case when named_event_days.event_name = curve_settings.start_event then 1 else 0 end
            as is_start,
        case when named_event_days.event_name = curve_settings.return_event then 1 else 0 end
            as is_return
    from named_event_days
    cross join curve_settings
    where named_event_days.event_name = curve_settings.start_event
        or named_event_days.event_name = curve_settings.return_event
),

curve_periods as (
    select
        curve,
        customer_id,
        period_index,
        max(is_start) as has_start,
        max(is_return) as has_return
    from curve_events
    where is_start = 1 or is_return = 1
    group by curve, customer_id, period_index
),

first_starts as (
    -- first_time: the cohort is the period of the customer's first start event ever
    select
        curve_periods.curve,
        curve_periods.customer_id,
        min(curve_periods.period_index) as cohort_index
    from curve_periods
    inner join curve_settings on curve_settings.curve = curve_periods.curve
    where curve_periods.has_start = 1 and curve_settings.kind = 'first_time'
    group by curve_periods.curve, curve_periods.customer_id
),

members as (
    -- recurring: every period with a start event starts a cohort row of its own
    select
        curve,
        customer_id,
        cohort_index
    from first_starts
    union all
    select
        curve_periods.curve,
        curve_periods.customer_id,
        curve_periods.period_index as cohort_index
    from curve_periods
    inner join curve_settings on curve_settings.curve = curve_periods.curve
    where curve_periods.has_start = 1 and curve_settings.kind = 'recurring'
),

last_returns as (
    select
        curve,
        customer_id,
        max(period_index) as last_return_index
    from curve_periods
    where has_return = 1
    group by curve, customer_id
),

cohorts as (
    select
        curve,
        cohort_index,
        count(*) as cohort_customers
    from members
    group by curve, cohort_index
),

first_cohorts as (
    select
        curve,
        min(cohort_index) as first_cohort_index
    from cohorts
    group by curve
),

ages as (
    -- 0 up to the oldest cohort's age at as_of (capped at the curve's periods), so every
    -- cohort has the same ages and its future cells exist and are NULL
    select
        curve_settings.curve,
        grain_periods.period_index - first_cohorts.first_cohort_index as period_number
    from curve_settings
    inner join first_cohorts on first_cohorts.curve = curve_settings.curve
    inner join grain_periods
        on grain_periods.grain = curve_settings.grain
        and grain_periods.period_index >= first_cohorts.first_cohort_index
    where
        curve_settings.periods < 0
        or grain_periods.period_index - first_cohorts.first_cohort_index <= curve_settings.periods
),

cells_on as (
    -- "on": a return event in period cohort + k itself
    select
        members.curve,
        members.cohort_index,
        curve_periods.period_index - members.cohort_index as period_number,
        -- one integer type in both branches of cells: ClickHouse has no common type for its
        -- count's UInt64 and a bigint sum's Int64
        cast(count(*) as bigint) as retained_customers
    from members
    inner join curve_settings
        on curve_settings.curve = members.curve
        and curve_settings.is_cumulative = 0
    inner join curve_periods
        on curve_periods.curve = members.curve
        and curve_periods.customer_id = members.customer_id
        and curve_periods.has_return = 1
        and curve_periods.period_index >= members.cohort_index
    group by
        members.curve,
        members.cohort_index,
        curve_periods.period_index - members.cohort_index
),

span_counts as (
    -- cohort members per cohort and periods from the cohort to their last return (negative
    -- for a recurring cohort after it): the spans, not the members, meet the ages below
    select
        members.curve,
        members.cohort_index,
        last_returns.last_return_index - members.cohort_index as return_span,
        count(*) as members
    from members
    inner join curve_settings
        on curve_settings.curve = members.curve
        and curve_settings.is_cumulative = 1
    inner join last_returns
        on last_returns.curve = members.curve
        and last_returns.customer_id = members.customer_id
    group by
        members.curve,
        members.cohort_index,
        last_returns.last_return_index - members.cohort_index
),

cells_on_or_after as (
    -- "on or after": a return event in period cohort + k or any later one
    select
        span_counts.curve,
        span_counts.cohort_index,
        ages.period_number,
        cast(sum(span_counts.members) as bigint) as retained_customers
    from span_counts
    inner join ages
        on ages.curve = span_counts.curve
        and span_counts.return_span >= ages.period_number
    group by span_counts.curve, span_counts.cohort_index, ages.period_number
),

cells as (
    select
        curve,
        cohort_index,
        period_number,
        retained_customers
    from cells_on
    union all
    select
        curve,
        cohort_index,
        period_number,
        retained_customers
    from cells_on_or_after
),

grid as (
    select
        cohorts.curve,
        curve_settings.grain,
        cohorts.cohort_index,
        cohorts.cohort_customers,
        ages.period_number,
        case
            when cohorts.cohort_index + ages.period_number <= grain_bounds.last_period_index
                then 1
            else 0
        end as is_observed
    from cohorts
    inner join curve_settings on curve_settings.curve = cohorts.curve
    inner join ages on ages.curve = cohorts.curve
    inner join grain_bounds on grain_bounds.grain = curve_settings.grain
),

final as (
    select
        grid.curve,
        grid.grain,
        grain_periods.period_start as cohort_start,
        grid.cohort_index,
        grid.period_number,
        grid.cohort_customers,
        case when grid.is_observed = 1 then coalesce(cells.retained_customers, 0) end
            as retained_customers,
        case
            when grid.is_observed = 1
                then usage_retention(coalesce(cells.retained_customers, 0), grid.cohort_customers)
        end as retention_pct
    from grid
    inner join grain_periods
        on grain_periods.grain = grid.grain
        and grain_periods.period_index = grid.cohort_index
    left join cells
        on cells.curve = grid.curve
        and cells.cohort_index = grid.cohort_index
        and cells.period_number = grid.period_number
)

select * from final
