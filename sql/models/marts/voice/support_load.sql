-- support_load: support tickets per period and per active customer
with ticket_rows as (
    select
        customer_id,
        period_index,
        resolved_at
    from stg_support_tickets
),

activity as (
    select
        customer_id,
        period_index
    from customer_daily_activity
),

periods as (
    -- every period from the first one of ticket_rows to as_of's
    select
        period_index,
        period_start
    from sr_periods_from(ticket_rows)
),

ticket_counts as (
    select
        period_index,
        count(*) as tickets,
        count(distinct customer_id) as customers_with_tickets,
        sum(case when resolved_at is not null then 1 else 0 end) as resolved_tickets
    from ticket_rows
    group by period_index
),

active as (
    select
        period_index,
        count(distinct customer_id) as active_customers
    from activity
    group by period_index
),

final as (
    select
        periods.period_index,
        periods.period_start as date_period,
        coalesce(ticket_counts.tickets, 0) as tickets,
        coalesce(ticket_counts.customers_with_tickets, 0) as customers_with_tickets,
        coalesce(ticket_counts.resolved_tickets, 0) as resolved_tickets,
        coalesce(active.active_customers, 0) as active_customers,
        tickets_per_customer(coalesce(ticket_counts.tickets, 0), active.active_customers)
            as tickets_per_active_customer
    from periods
    left join ticket_counts on ticket_counts.period_index = periods.period_index
    left join active on active.period_index = periods.period_index
)

select * from final
