-- journey_funnel: customers reaching each ordered step of the journey, among the customers
-- whose conversion window has closed, with step-to-step and overall conversion
with journeys as (
    select
        customer_id,
        is_activated,
        is_regular_user,
        is_paying,
        is_renewed,
        step_reached
    from customer_journey
    where is_window_closed = 1
),

counts as (
    -- ordered counts (every earlier step reached) and, for diagnosis, each step's condition
    -- on its own
    select
        count(*) as signed_up,
        sum(case when step_reached >= 2 then 1 else 0 end) as activated,
        sum(case when step_reached >= 3 then 1 else 0 end) as regular,
        sum(case when step_reached >= 4 then 1 else 0 end) as paying,
        sum(case when step_reached >= 5 then 1 else 0 end) as renewed,
        sum(is_activated) as activated_any_order,
        sum(is_regular_user) as regular_any_order,
        sum(is_paying) as paying_any_order,
        sum(is_renewed) as renewed_any_order
    from journeys
),

steps as (
    select
        1 as step_number,
        'signup' as step,
        signed_up as customers,
        signed_up as customers_any_order,
        signed_up as previous_customers,
        signed_up as signed_up
    from counts
    union all
    select 2, 'activation', activated, activated_any_order, signed_up, signed_up from counts
    union all
    select 3, 'regular_use', regular, regular_any_order, activated, signed_up from counts
    union all
    select 4, 'paying', paying, paying_any_order, regular, signed_up from counts
    union all
    select 5, 'renewed', renewed, renewed_any_order, paying, signed_up from counts
),

final as (
    select
        step_number,
        step,
        coalesce(customers, 0) as customers,
        coalesce(customers_any_order, 0) as customers_any_order,
        pct(customers, previous_customers) as conversion_from_previous,
        pct(customers, signed_up) as conversion_overall
    from steps
)

select * from final
