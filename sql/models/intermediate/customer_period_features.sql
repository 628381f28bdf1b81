-- customer_period_features: one row per customer, period and feature (event name) — the
-- daily feature rows summed up once per period, so the period models (adoption, breadth,
-- performance, engagement, churn lift) read a table less than half its size
with feature_rows as (
    select
        customer_id,
        period_index,
        event_name,
        user_id,
        day_index,
        events
    from customer_daily_features
),

user_rows as (
    -- a user counts once per customer, period and feature, whatever days and hours they used it
    select
        customer_id,
        period_index,
        event_name,
        user_id,
        sum(events) as events,
        max(day_index) as last_day_index
    from feature_rows
    group by customer_id, period_index, event_name, user_id
),

final as (
    select
        customer_id,
        period_index,
        event_name,
        count(user_id) as users,
        cast(sum(events) as bigint) as events,
        max(last_day_index) as last_day_index
    from user_rows
    group by customer_id, period_index, event_name
)

select * from final
