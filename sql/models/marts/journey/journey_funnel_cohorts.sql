-- journey_funnel_cohorts: the journey funnel per signup month
with journeys as (
    select
        customer_id,
        signup_date,
        signup_month_index,
        is_activated,
        is_regular_user,
        is_paying,
        is_renewed,
        step_reached
    from customer_journey
    where is_window_closed = 1
),

counts as (
    select
        signup_month_index,
        sr_month_start(min(signup_date)) as signup_month,
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
    group by signup_month_index
),

steps as (
    select
        signup_month_index,
        signup_month,
        1 as step_number,
        'signup' as step,
        signed_up as customers,
        signed_up as customers_any_order,
        signed_up as previous_customers,
        signed_up as signed_up
    from counts
    union all
    select
        signup_month_index, signup_month, 2, 'activation', activated, activated_any_order,
        signed_up, signed_up
    from counts
    union all
    select
        signup_month_index, signup_month, 3, 'regular_use', regular, regular_any_order,
        activated, signed_up
    from counts
    union all
    select
        signup_month_index, signup_month, 4, 'paying', paying, paying_any_order, regular,
        signed_up
    from counts
    union all
    select
        signup_month_index, signup_month, 5, 'renewed', renewed, renewed_any_order, paying,
        signed_up
    from counts
),

final as (
    select
        signup_month_index,
        signup_month,
        step_number,
        step,
        customers,
        customers_any_order,
        pct(customers, previous_customers) as conversion_from_previous,
        pct(customers, signed_up) as conversion_overall,
        previous_customers as previous_step_customers,
        signed_up as signed_up_customers
    from steps
)

select * from final
