-- lifecycle: per period, active customers split into new / returning / resurrecting, and
-- the customers who went dormant; "new" is judged on the whole activity history, never on
-- the reporting window
with activity as (
    -- a refresh reads only the periods it recomputes and the one before them (refresh: prune)
    select
        customer_id,
        period_index
    from customer_daily_activity
),

first_activity as (
    -- each customer's first active period over the whole history, read apart from `activity`
    -- so that a refresh still judges "new" on every period
    select
        customer_id,
        min(period_index) as first_active_index
    from customer_daily_activity
    group by customer_id
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
    -- the customer's previous and next active periods among those read (NULL when there is
    -- none): whether they were active in the previous period, and in the next one
    select
        customer_periods_active.customer_id,
        customer_periods_active.period_index,
        first_activity.first_active_index,
        lag(customer_periods_active.period_index) over (
            partition by customer_periods_active.customer_id
            order by customer_periods_active.period_index
        ) as previous_active_index,
        lead(customer_periods_active.period_index) over (
            partition by customer_periods_active.customer_id
            order by customer_periods_active.period_index
        ) as next_active_index
    from customer_periods_active
    inner join first_activity
        on first_activity.customer_id = customer_periods_active.customer_id
),

active_states as (
    -- new: the first active period ever; returning: active in the previous period too;
    -- resurrecting: neither (active some time before the previous period)
    select
        period_index,
        sum(case when period_index = first_active_index then 1 else 0 end) as new_customers,
        sum(case when previous_active_index = period_index - 1 then 1 else 0 end)
            as returning_customers,
        sum(case
            when period_index > first_active_index
                and (previous_active_index is null or previous_active_index < period_index - 1)
                then 1
            else 0
        end) as resurrecting_customers,
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

history_start as (
    select min(first_active_index) as period_index
    from first_activity
),

reported as (
    -- periods of the calendar from the first one with activity (over the whole history: a
    -- refresh reads the activity of the recomputed periods alone, where there may be none)
    select
        period_index,
        period_start
    from sr_periods_from(history_start)
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
