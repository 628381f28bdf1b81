-- renewals: subscription terms ending in each period and whether they renewed; trials ending
-- and whether they converted to paid
with terms as (
    select
        subscription_id,
        customer_id,
        start_date,
        term_end,
        term_end_period_index,
        renewal_deadline,
        is_final,
        is_trial,
        mrr
    from stg_subscription_terms
),

paid_subscriptions as (
    select
        subscription_id,
        customer_id,
        start_date,
        end_date
    from stg_subscriptions
    where mrr > 0 and first_period_index is not null
),

periods as (
    select
        period_index,
        period_start
    from reporting_periods
),

paid_terms as (
    select *
    from terms
    where is_trial = false and mrr > 0
),

picked_up as (
    -- a final term renewed when another paid subscription of the customer is running at
    -- its end or starts within the grace window
    select
        paid_terms.subscription_id,
        paid_terms.term_end,
        max(
            case
                when paid_subscriptions.end_date is null
                    and paid_subscriptions.subscription_id is not null then 1
                when paid_subscriptions.end_date > paid_terms.term_end then 1
                else 0
            end
        ) as is_picked_up
    -- The open-ended test is in the aggregate, not the join: an OR in an outer join's
    -- condition is a nested-loop join in duckdb 1.x (Superset's pin), quadratic in customers
    from paid_terms
    left join paid_subscriptions
        on paid_subscriptions.customer_id = paid_terms.customer_id
        and paid_subscriptions.subscription_id <> paid_terms.subscription_id
        and paid_subscriptions.start_date <= paid_terms.renewal_deadline
    where paid_terms.is_final = 1
    group by paid_terms.subscription_id, paid_terms.term_end
),

term_outcomes as (
    select
        paid_terms.term_end_period_index as period_index,
        case
            when paid_terms.is_final = 0 then 1
            when picked_up.is_picked_up = 1 then 1
            -- the grace window is still open at as_of: neither renewed nor lost yet
            when paid_terms.renewal_deadline > cast(:as_of as date) then null
            else 0
        end as renewed
    from paid_terms
    left join picked_up
        on picked_up.subscription_id = paid_terms.subscription_id
        and picked_up.term_end = paid_terms.term_end
),

trial_outcomes as (
    -- a trial converted when a paid subscription of the customer runs at some point between
    -- the trial's start and its end plus the grace window
    select
        trials.term_end_period_index as period_index,
        trials.subscription_id,
        trials.renewal_deadline,
        max(
            case
                when paid_subscriptions.end_date is null
                    and paid_subscriptions.subscription_id is not null then 1
                when paid_subscriptions.end_date > trials.start_date then 1
                else 0
            end
        ) as converted
    -- The open-ended test is in the aggregate, not the join: an OR in an outer join's
    -- condition is a nested-loop join in duckdb 1.x (Superset's pin), quadratic in customers
    from terms as trials
    left join paid_subscriptions
        on paid_subscriptions.customer_id = trials.customer_id
        and paid_subscriptions.start_date <= trials.renewal_deadline
    where trials.is_trial = true and trials.is_final = 1
    group by trials.term_end_period_index, trials.subscription_id, trials.renewal_deadline
),

renewal_counts as (
    select
        period_index,
        sum(case when renewed is not null then 1 else 0 end) as due,
        sum(case when renewed = 1 then 1 else 0 end) as renewed,
        sum(case when renewed is null then 1 else 0 end) as pending
    from term_outcomes
    group by period_index
),

trial_counts as (
    select
        period_index,
        sum(case when converted = 1 or renewal_deadline <= cast(:as_of as date) then 1 else 0 end)
            as trials_ended,
        sum(converted) as trials_converted,
        sum(case when converted = 0 and renewal_deadline > cast(:as_of as date) then 1 else 0 end)
            as trials_pending
    from trial_outcomes
    group by period_index
),

final as (
    select
        periods.period_index,
        periods.period_start as date_period,
        coalesce(renewal_counts.due, 0) as due,
        coalesce(renewal_counts.renewed, 0) as renewed,
        coalesce(renewal_counts.pending, 0) as renewals_pending,
        renewal_rate(renewal_counts.renewed, renewal_counts.due) as renewal_rate,
        coalesce(trial_counts.trials_ended, 0) as trials_ended,
        coalesce(trial_counts.trials_converted, 0) as trials_converted,
        coalesce(trial_counts.trials_pending, 0) as trials_pending,
        trial_conversion_rate(trial_counts.trials_converted, trial_counts.trials_ended)
            as trial_conversion_rate
    from periods
    left join renewal_counts on renewal_counts.period_index = periods.period_index
    left join trial_counts on trial_counts.period_index = periods.period_index
)

select * from final
