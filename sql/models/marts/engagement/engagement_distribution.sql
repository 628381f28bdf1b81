-- engagement_distribution: customers per band of 10 engagement-score points, per period
with scores as (
    select
        customer_id,
        period_index,
        is_paying,
        engagement_score
    from customer_engagement
    where engagement_score is not null
),

periods as (
    select
        period_index,
        period_start
    from calendar
),

banded as (
    -- bands 0–10, 10–20 … 90–100 (a score of exactly 100 is in the top band)
    select
        period_index,
        is_paying,
        engagement_score,
        case
            when engagement_score >= 90 then 90
            else cast(floor(engagement_score / 10) as integer) * 10
        end as score_band
    from scores
),

bands as (
    select
        period_index,
        score_band,
        count(*) as customers,
        sum(is_paying) as paying_customers,
        -- summed as exact decimals: a sum of doubles depends on the order threads add them in,
        -- and the same input must give the same bytes
        cast(avg(cast(engagement_score as decimal(38, 18))) as double) as avg_engagement_score
    from banded
    group by period_index, score_band
),

period_totals as (
    select
        period_index,
        count(*) as customers
    from scores
    group by period_index
),

final as (
    select
        bands.period_index,
        periods.period_start as date_period,
        bands.score_band,
        bands.customers,
        bands.paying_customers,
        pct(bands.customers, period_totals.customers) as share_of_customers,
        bands.avg_engagement_score
    from bands
    inner join periods on periods.period_index = bands.period_index
    inner join period_totals on period_totals.period_index = bands.period_index
)

select * from final
