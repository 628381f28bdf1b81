-- cohort_value: observed and projected (shifted-beta-geometric) value of each cohort by age
with customer_rows as (
    select
        customer_id,
        period_index,
        mrr,
        movement,
        cohort_period_index
    from customer_periods
),

first_churn as (
    -- the sBG model describes a customer's first spell: survival ends at the first churn
    select
        customer_id,
        min(cohort_period_index) as cohort_period_index,
        min(case when movement = 'churn' then period_index end) as first_churn_index
    from customer_rows
    group by customer_id
),

cohort_grid as (
    select
        cohort_period_index,
        period_number,
        cohort_size,
        cohort_mrr,
        retained_mrr
    from cohort_retention
),

survivors as (
    select
        cohort_grid.cohort_period_index,
        cohort_grid.period_number,
        sum(
            case
                when first_churn.first_churn_index is null
                    or first_churn.first_churn_index > cohort_grid.cohort_period_index
                    + cohort_grid.period_number then 1
                else 0
            end
        ) as survivors
    from cohort_grid
    inner join first_churn on first_churn.cohort_period_index = cohort_grid.cohort_period_index
    where cohort_grid.retained_mrr is not null
    group by cohort_grid.cohort_period_index, cohort_grid.period_number
),

fits as (
    -- maximum-likelihood fit of alpha and beta to the observed survivor curve (Arrow UDF)
    select
        cohort_period_index,
        sbg_fit(list(cast(survivors as double) order by period_number)) as fit
    from survivors
    group by cohort_period_index
),

valued as (
    select
        cohort_grid.cohort_period_index,
        cohort_grid.period_number,
        cohort_grid.cohort_size,
        survivors.survivors,
        -- revenue earned per cohort customer up to this age: the MRR of each period times
        -- the months it lasts
        sum(cohort_grid.retained_mrr * :months_per_period) over (
            partition by cohort_grid.cohort_period_index
            order by cohort_grid.period_number
            rows between unbounded preceding and current row
        ) as cumulative_revenue,
        cohort_grid.retained_mrr,
        cohort_grid.cohort_mrr,
        fits.fit.alpha as alpha,
        fits.fit.beta as beta,
        fits.fit.log_likelihood as log_likelihood
    from cohort_grid
    left join survivors
        on survivors.cohort_period_index = cohort_grid.cohort_period_index
        and survivors.period_number = cohort_grid.period_number
    left join fits on fits.cohort_period_index = cohort_grid.cohort_period_index
),

projected as (
    select
        valued.*,
        sbg_survival(alpha, beta, period_number) as projected_survival,
        sum(discounted_survival(alpha, beta, period_number, :discount_rate_per_period)) over (
            partition by cohort_period_index
            order by period_number
            rows between unbounded preceding and current row
        ) as discounted_lifetime_periods
    from valued
),

final as (
    select
        periods.period_start as cohort_period,
        projected.cohort_period_index,
        projected.period_number,
        projected.cohort_size,
        projected.survivors,
        case
            when projected.retained_mrr is not null
                then safe_divide(projected.cumulative_revenue, projected.cohort_size)
        end as observed_ltv,
        projected.projected_survival,
        -- first-period ARPA × margin × months per period × discounted expected periods alive
        safe_divide(projected.cohort_mrr, projected.cohort_size) * :gross_margin
            * :months_per_period * projected.discounted_lifetime_periods as projected_ltv,
        projected.alpha,
        projected.beta,
        projected.log_likelihood
    from projected
    inner join calendar as periods on periods.period_index = projected.cohort_period_index
)

select * from final
