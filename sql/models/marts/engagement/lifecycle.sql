-- lifecycle: per period, active customers split into new / returning / resurrecting, and
-- the customers who went dormant; "new" is judged on the whole activity history, never on
-- the reporting window
with activity as (
    select
        customer_id,
        period_index
    from customer_daily_activity
),

periods as (
    select
        period_index,
        period_start
    from calendar
),

bounds as (
    select max(period_index) as last_period_index
    from periods
),

customer_periods_active as (
    -- every period, from the first ever, in which the customer had an event
    select
        customer_id,
        period_index
    from activity
    group by customer_id, period_index
),

with_neighbours as (
    -- the customer's previous and next active periods (NULL when there is none)
    select
        customer_id,
        period_index,
        lag(period_index) over (partition by customer_id order by period_index)
            as previous_active_index,
        lead(period_index) over (partition by customer_id order by period_index)
            as next_active_index
    from customer_periods_active
),

active_states as (
    select
        period_index,
        sum(case when previous_active_index is null then 1 else 0 end) as new_customers,
        sum(case when previous_active_index = period_index - 1 then 1 else 0 end)
            as returning_customers,
        sum(case when previous_active_index < period_index - 1 then 1 else 0 end)
            as resurrecting_customers,
        count(*) as active_customers
    from with_neighbours
    group by period_index
),

dormant as (
    -- active in a period and not in the next one: dormant in that next period (which must
    -- have begun by as_of)
    select
        with_neighbours.period_index + 1 as period_index,
        count(*) as dormant_customers
    from with_neighbours
    cross join bounds
    where (with_neighbours.next_active_index is null
           or with_neighbours.next_active_index > with_neighbours.period_index + 1)
        and with_neighbours.period_index + 1 <= bounds.last_period_index
    group by with_neighbours.period_index + 1
),

reported as (
    -- periods of the calendar from the first one with activity
    select
        period_index,
        period_start
    from sr_periods_from(customer_periods_active)
),

final as (
    select
        reported.period_index,
        reported.period_start as date_period,
        coalesce(active_states.active_customers, 0) as active_customers,
        coalesce(active_states.new_customers, 0) as new_customers,
        coalesce(active_states.returning_customers, 0) as returning_customers,
        coalesce(active_states.resurrecting_customers, 0) as resurrecting_customers,
        coalesce(dormant.dormant_customers, 0) as dormant_customers,
        coalesce(previous_states.active_customers, 0) as previous_active_customers
    from reported
    left join active_states on active_states.period_index = reported.period_index
    left join dormant on dormant.period_index = reported.period_index
    left join active_states as previous_states
        on previous_states.period_index = reported.period_index - 1
)

select * from final
