-- customer_daily_features: one row per customer, day, event name (feature), user and hour of
-- day — the second and last grouped pass over the raw events; feature adoption, breadth,
-- monthly active users and time of use all read it instead of the events
with event_rows as (
    select
        customer_id,
        user_id,
        event_name,
        day_index,
        week_index,
        month_index,
        period_index,
        hour_of_day,
        day_of_week
    from stg_events
    where customer_id is not null
        and event_name is not null
),

grouped as (
    -- user and hour stay in the key so distinct users per month and events per hour can be
    -- counted later without another pass over the events
    select
        customer_id,
        day_index,
        event_name,
        user_id,
        hour_of_day,
        day_of_week,
        week_index,
        month_index,
        period_index,
        count(*) as events
    from event_rows
    group by
        customer_id,
        day_index,
        event_name,
        user_id,
        hour_of_day,
        day_of_week,
        week_index,
        month_index,
        period_index
),

final as (
    select
        customer_id,
        day_index,
        event_name,
        user_id,
        hour_of_day,
        day_of_week,
        week_index,
        month_index,
        period_index,
        events
    from grouped
)

select * from final
