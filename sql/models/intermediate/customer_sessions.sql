-- customer_sessions: sessions and time in the product per customer and period. Sessions are
-- the events' session_id when present, otherwise runs of a user's events cut at
-- :session_timeout_seconds of inactivity. This is the second pass over the raw events (a
-- window over each user's events), needed because a session can cross a day boundary.
with event_rows as (
    -- seconds since 1970-01-01 on the local clock, staged from integer parts (portable)
    select
        customer_id,
        user_id,
        session_id,
        duration_seconds,
        period_index,
        second_index as event_second
    from stg_events
    where customer_id is not null
),

gap_flags as (
    -- without a session id: a new session starts after more than the timeout of inactivity
    select
        customer_id,
        user_id,
        duration_seconds,
        period_index,
        event_second,
        case
            when event_second - coalesce(
                lag(event_second) over (partition by customer_id, user_id order by event_second),
                event_second - :session_timeout_seconds - 1
            ) > :session_timeout_seconds then 1
            else 0
        end as is_session_start
    from event_rows
    where session_id is null
),

gap_numbered as (
    select
        customer_id,
        user_id,
        duration_seconds,
        period_index,
        event_second,
        -- range, not rows: events of the same second are peers and get the same number,
        -- whatever order the engine puts ties in (with rows, a tie whose lag saw the earlier
        -- second could be numbered after its twin: one session counted as two on MariaDB)
        sum(is_session_start) over (
            partition by customer_id, user_id order by event_second
            range between unbounded preceding and current row
        ) as session_number
    from gap_flags
),

id_sessions as (
    select
        customer_id,
        min(period_index) as period_index,
        min(event_second) as first_second,
        max(event_second) as last_second,
        sum(duration_seconds) as timed_seconds,
        count(duration_seconds) as timed_events
    from event_rows
    where session_id is not null
    group by customer_id, session_id
),

gap_sessions as (
    select
        customer_id,
        min(period_index) as period_index,
        min(event_second) as first_second,
        max(event_second) as last_second,
        sum(duration_seconds) as timed_seconds,
        count(duration_seconds) as timed_events
    from gap_numbered
    group by customer_id, user_id, session_number
),

all_sessions as (
    -- a session belongs to the period it starts in; its time is the sum of its events'
    -- duration_seconds when they carry one, else first to last event (decimal, so sums do not
    -- depend on the order threads add them in). Inner names differ from the output names
    -- (timed_seconds, length_seconds): ClickHouse reads a name in a select list as the
    -- alias defined beside it, e.g. count(x) next to sum(x) as x as a nested aggregate
    select
        customer_id,
        period_index,
        case
            when timed_events > 0 then cast(timed_seconds as decimal(18, 6))
            else cast(last_second - first_second as decimal(18, 6))
        end as length_seconds
    from id_sessions
    union all
    select
        customer_id,
        period_index,
        case
            when timed_events > 0 then cast(timed_seconds as decimal(18, 6))
            else cast(last_second - first_second as decimal(18, 6))
        end as length_seconds
    from gap_sessions
),

final as (
    select
        customer_id,
        period_index,
        count(*) as sessions,
        sum(length_seconds) as session_seconds,
        -- counts as bigint: DuckDB sums integers into a 128-bit HUGEINT, and summing a
        -- stored HUGEINT column again (session_time, the charts) is ~100 × slower than a
        -- BIGINT one (1.5 s against 0.01 s per column over 7.2M rows at 1M customers)
        cast(sum(case when length_seconds < 60 then 1 else 0 end) as bigint)
            as sessions_under_1_min,
        cast(sum(case when length_seconds >= 60 and length_seconds < 300 then 1 else 0 end)
            as bigint) as sessions_1_to_5_min,
        cast(sum(case when length_seconds >= 300 and length_seconds < 900 then 1 else 0 end)
            as bigint) as sessions_5_to_15_min,
        cast(sum(case when length_seconds >= 900 and length_seconds < 1800 then 1 else 0 end)
            as bigint) as sessions_15_to_30_min,
        cast(sum(case when length_seconds >= 1800 and length_seconds < 3600 then 1 else 0 end)
            as bigint) as sessions_30_to_60_min,
        cast(sum(case when length_seconds >= 3600 then 1 else 0 end) as bigint)
            as sessions_over_60_min
    from all_sessions
    group by customer_id, period_index
)

select * from final
