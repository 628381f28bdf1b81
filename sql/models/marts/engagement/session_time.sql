-- session_time: per period, sessions, their average length and time per active customer,
-- with the distribution of session lengths
with session_rows as (
    select
        customer_id,
        period_index,
        sessions,
        session_seconds,
        sessions_under_1_min,
        sessions_1_to_5_min,
        sessions_5_to_15_min,
        sessions_15_to_30_min,
        sessions_30_to_60_min,
        sessions_over_60_min
    from customer_sessions
),

periods as (
    -- every period from the first one of customer_sessions to as_of's
    select
        period_index,
        period_start
    from sr_periods_from(customer_sessions)
),

totals as (
    select
        period_index,
        count(*) as customers,
        sum(sessions) as sessions,
        sum(session_seconds) as session_seconds,
        sum(sessions_under_1_min) as sessions_under_1_min,
        sum(sessions_1_to_5_min) as sessions_1_to_5_min,
        sum(sessions_5_to_15_min) as sessions_5_to_15_min,
        sum(sessions_15_to_30_min) as sessions_15_to_30_min,
        sum(sessions_30_to_60_min) as sessions_30_to_60_min,
        sum(sessions_over_60_min) as sessions_over_60_min
    from session_rows
    group by period_index
),

final as (
    select
        periods.period_index,
        periods.period_start as date_period,
        coalesce(totals.customers, 0) as customers,
        coalesce(totals.sessions, 0) as sessions,
        cast(coalesce(totals.session_seconds, 0) as double) as session_seconds,
        safe_divide(totals.session_seconds, totals.sessions * 60) as avg_session_minutes,
        safe_divide(totals.sessions, totals.customers) as sessions_per_customer,
        safe_divide(totals.session_seconds, totals.customers * 60) as minutes_per_customer,
        coalesce(totals.sessions_under_1_min, 0) as sessions_under_1_min,
        coalesce(totals.sessions_1_to_5_min, 0) as sessions_1_to_5_min,
        coalesce(totals.sessions_5_to_15_min, 0) as sessions_5_to_15_min,
        coalesce(totals.sessions_15_to_30_min, 0) as sessions_15_to_30_min,
        coalesce(totals.sessions_30_to_60_min, 0) as sessions_30_to_60_min,
        coalesce(totals.sessions_over_60_min, 0) as sessions_over_60_min
    from periods
    left join totals on totals.period_index = periods.period_index
)

select * from final
