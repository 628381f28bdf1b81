-- customer_journey: one row per customer — which step of the journey (signup → activation →
-- regular use → paying → renewed) it reached within the conversion window; the funnels count
-- these rows
with customer_rows as (
    select
        customer_id,
        signup_date
    from stg_customers
    where customer_id is not null
),

activity as (
    select
        customer_id,
        day_index,
        activity_date
    from customer_daily_activity
),

feature_days as (
    -- days on which the activation event happened ('' = any event)
    select
        customer_id,
        day_index
    from customer_daily_features
    where :activation_event = '' or event_name = :activation_event
    group by customer_id, day_index
),

paid_subscriptions as (
    -- paid subscriptions that count under the snapshot rule
    select
        subscription_id,
        customer_id,
        start_date,
        end_date
    from stg_subscriptions
    where mrr > 0
        and first_period_index is not null
        and last_period_index >= first_period_index
),

paid_terms as (
    select
        subscription_id,
        customer_id,
        term_end,
        renewal_deadline,
        is_final
    from stg_subscription_terms
    where is_trial = false and mrr > 0
),

today as (
    select max(day_index) as as_of_day_index
    from calendar_days
),

first_activity as (
    select
        customer_id,
        min(activity_date) as first_activity_date
    from activity
    group by customer_id
),

signups as (
    -- signup = signup_date, else the first event's day; integer day indexes from here on
    select
        customer_rows.customer_id,
        coalesce(customer_rows.signup_date, first_activity.first_activity_date) as signup_date,
        sr_day_index(
            coalesce(customer_rows.signup_date, first_activity.first_activity_date)
        ) as signup_day_index
    from customer_rows
    left join first_activity on first_activity.customer_id = customer_rows.customer_id
    where coalesce(customer_rows.signup_date, first_activity.first_activity_date) is not null
),

activation as (
    -- activity before signup is ignored by the journey
    select
        signups.customer_id,
        min(feature_days.day_index) as activation_day_index
    from signups
    inner join feature_days
        on feature_days.customer_id = signups.customer_id
        and feature_days.day_index >= signups.signup_day_index
        and feature_days.day_index < signups.signup_day_index + :journey_window_days
    group by signups.customer_id
),

first_weeks as (
    -- weeks 0–3 counted from the signup day (not calendar weeks)
    select
        signups.customer_id,
        count(
            distinct cast(floor((activity.day_index - signups.signup_day_index) / 7) as integer)
        ) as active_weeks
    from signups
    inner join activity
        on activity.customer_id = signups.customer_id
        and activity.day_index >= signups.signup_day_index
        and activity.day_index < signups.signup_day_index + 28
    group by signups.customer_id
),

first_payment as (
    select
        customer_id,
        min(sr_day_index(start_date)) as paid_day_index
    from paid_subscriptions
    group by customer_id
),

first_term_ends as (
    select
        customer_id,
        min(term_end) as first_term_end
    from paid_terms
    group by customer_id
),

first_terms as (
    -- renewed: the subscription went on past its first term, or another paid subscription
    -- ran at its end or started within the renewal grace window
    select
        paid_terms.customer_id,
        max(
            case
                when paid_terms.is_final = 0 then 1
                when other.end_date is null and other.subscription_id is not null then 1
                when other.end_date > paid_terms.term_end then 1
                else 0
            end
        ) as is_renewed
    -- The open-ended test is in the aggregate, not the join: an OR in an outer join's
    -- condition is a nested-loop join in duckdb 1.x (Superset's pin), quadratic in customers
    from paid_terms
    inner join first_term_ends
        on first_term_ends.customer_id = paid_terms.customer_id
        and first_term_ends.first_term_end = paid_terms.term_end
    left join paid_subscriptions as other
        on other.customer_id = paid_terms.customer_id
        and other.subscription_id <> paid_terms.subscription_id
        and other.start_date <= paid_terms.renewal_deadline
    group by paid_terms.customer_id
),

flags as (
    select
        signups.customer_id,
        signups.signup_date,
        signups.signup_day_index,
        case
            when signups.signup_day_index + :journey_window_days <= today.as_of_day_index + 1
                and signups.signup_day_index + 28 <= today.as_of_day_index + 1 then 1
            else 0
        end as is_window_closed,
        activation.activation_day_index,
        coalesce(first_weeks.active_weeks, 0) as active_weeks_of_first_4,
        first_payment.paid_day_index,
        case when activation.activation_day_index is not null then 1 else 0 end
            as is_activated,
        case when coalesce(first_weeks.active_weeks, 0) >= 3 then 1 else 0 end
            as is_regular_user,
        case
            when first_payment.paid_day_index
                < signups.signup_day_index + :journey_window_days then 1
            else 0
        end as is_paying,
        coalesce(first_terms.is_renewed, 0) as is_renewed
    from signups
    cross join today
    left join activation on activation.customer_id = signups.customer_id
    left join first_weeks on first_weeks.customer_id = signups.customer_id
    left join first_payment on first_payment.customer_id = signups.customer_id
    left join first_terms on first_terms.customer_id = signups.customer_id
),

final as (
    -- steps are ordered: a step counts only when every earlier step was reached
    select
        customer_id,
        signup_date,
        signup_day_index,
        sr_month_index(signup_date) as signup_month_index,
        is_window_closed,
        activation_day_index,
        active_weeks_of_first_4,
        paid_day_index,
        is_activated,
        is_regular_user,
        is_paying,
        is_renewed,
        case
            when is_activated = 0 then 1
            when is_regular_user = 0 then 2
            when is_paying = 0 then 3
            when is_renewed = 0 then 4
            else 5
        end as step_reached
    from flags
)

select * from final
