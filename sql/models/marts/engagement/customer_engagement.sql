-- customer_engagement: an engagement score per customer and period from frequency, breadth,
-- time in the product and support contacts, each scaled 0–100, weighted by the settings
with activity as (
    select
        customer_id,
        period_index
    from customer_daily_activity
),

feature_rows as (
    -- one row per customer, period and feature used
    select
        customer_id,
        period_index,
        event_name
    from customer_period_features
),

session_rows as (
    select
        customer_id,
        period_index,
        session_seconds
    from customer_sessions
),

ticket_rows as (
    select
        customer_id,
        period_index
    from stg_support_tickets
    where customer_id is not null
),

paying as (
    select
        customer_id,
        period_index
    from customer_periods
    where is_paying = 1
),

periods as (
    -- every period from the first one of customer_daily_activity to as_of's
    select
        period_index,
        period_start
    from sr_periods_from(customer_daily_activity)
),

period_days as (
    -- days of the period up to as_of: the denominator of frequency
    select
        period_index,
        count(*) as days
    from calendar_days
    group by period_index
),

population_rows as (
    -- customers active in the period, and paying customers without any activity (who score
    -- low instead of disappearing)
    select
        customer_id,
        period_index,
        0 as is_paying
    from activity
    union all
    select
        customer_id,
        period_index,
        1 as is_paying
    from paying
),

population as (
    select
        customer_id,
        period_index,
        max(is_paying) as is_paying
    from population_rows
    group by customer_id, period_index
),

active_days as (
    select
        customer_id,
        period_index,
        count(*) as active_days
    from activity
    group by customer_id, period_index
),

features_used as (
    select
        customer_id,
        period_index,
        count(*) as features_used
    from feature_rows
    group by customer_id, period_index
),

features_available as (
    select
        period_index,
        count(distinct event_name) as features_available
    from feature_rows
    group by period_index
),

time_ranks as (
    -- time in the product has no natural maximum: rank it among the period's customers
    -- with sessions (share of them with as much time or less)
    select
        customer_id,
        period_index,
        session_seconds,
        cume_dist() over (partition by period_index order by session_seconds) as time_rank
    from session_rows
    where session_seconds > 0
),

tickets as (
    select
        customer_id,
        period_index,
        count(*) as support_tickets
    from ticket_rows
    group by customer_id, period_index
),

components as (
    select
        population.customer_id,
        population.period_index,
        periods.period_start,
        population.is_paying,
        coalesce(active_days.active_days, 0) as active_days,
        coalesce(features_used.features_used, 0) as features_used,
        cast(coalesce(time_ranks.session_seconds, 0) as double) as session_seconds,
        coalesce(tickets.support_tickets, 0) as support_tickets,
        coalesce(pct(coalesce(active_days.active_days, 0), period_days.days), 0)
            as frequency_score,
        coalesce(
            pct(coalesce(features_used.features_used, 0), features_available.features_available),
            0
        ) as breadth_score,
        100 * coalesce(time_ranks.time_rank, 0) as time_score,
        100 * safe_divide(1, 1 + coalesce(tickets.support_tickets, 0)) as support_score
    from population
    inner join periods on periods.period_index = population.period_index
    inner join period_days on period_days.period_index = population.period_index
    left join active_days
        on active_days.customer_id = population.customer_id
        and active_days.period_index = population.period_index
    left join features_used
        on features_used.customer_id = population.customer_id
        and features_used.period_index = population.period_index
    left join features_available on features_available.period_index = population.period_index
    left join time_ranks
        on time_ranks.customer_id = population.customer_id
        and time_ranks.period_index = population.period_index
    left join tickets
        on tickets.customer_id = population.customer_id
        and tickets.period_index = population.period_index
),

final as (
    select
        customer_id,
        period_index,
        period_start as date_period,
        is_paying,
        active_days,
        features_used,
        session_seconds,
        support_tickets,
        frequency_score,
        breadth_score,
        time_score,
        support_score,
        engagement_score(
            frequency_score, breadth_score, time_score, support_score,
            :weight_frequency, :weight_breadth, :weight_time, :weight_support
        ) as engagement_score
    from components
)

select * from final
