-- referral_rate: per period, the share of new customers who had been referred, and the
-- referrals sent
with customer_rows as (
    select
        customer_id,
        period_index,
        movement
    from customer_periods
),

referral_rows as (
    select
        referrer_customer_id,
        referred_customer_id,
        period_index
    from stg_referrals
),

periods as (
    select
        period_index,
        period_start
    from reporting_periods
),

new_customers as (
    -- new = first paying period ever (movement 'new'); reactivations are not new
    select
        customer_id,
        period_index
    from customer_rows
    where movement = 'new'
),

referred as (
    select
        referred_customer_id as customer_id,
        min(period_index) as referred_period_index
    from referral_rows
    where referred_customer_id is not null
    group by referred_customer_id
),

new_counts as (
    -- referred = a referral naming the customer dated in or before its first paying period
    select
        new_customers.period_index,
        count(*) as new_customers,
        sum(
            case when referred.referred_period_index <= new_customers.period_index then 1 else 0 end
        ) as referred_new_customers
    from new_customers
    left join referred on referred.customer_id = new_customers.customer_id
    group by new_customers.period_index
),

referral_counts as (
    select
        period_index,
        count(*) as referrals,
        count(distinct referrer_customer_id) as referring_customers
    from referral_rows
    group by period_index
),

final as (
    select
        periods.period_index,
        periods.period_start as date_period,
        coalesce(new_counts.new_customers, 0) as new_customers,
        coalesce(new_counts.referred_new_customers, 0) as referred_new_customers,
        customer_referral_rate(new_counts.referred_new_customers, new_counts.new_customers)
            as referral_rate,
        coalesce(referral_counts.referrals, 0) as referrals,
        coalesce(referral_counts.referring_customers, 0) as referring_customers
    from periods
    left join new_counts on new_counts.period_index = periods.period_index
    left join referral_counts on referral_counts.period_index = periods.period_index
)

select * from final
