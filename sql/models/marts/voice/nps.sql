-- nps: net promoter score per period, with its 95 % confidence interval
with responses as (
    select
        customer_id,
        period_index,
        score
    from stg_survey_responses
    where lower(survey) = 'nps' and score is not null
),

periods as (
    -- every period from the first one of responses to as_of's
    select
        period_index,
        period_start
    from sr_periods_from(responses)
),

counts as (
    -- promoters 9–10, passives 7–8, detractors 0–6 (staging rejects scores off the scale)
    select
        period_index,
        count(*) as responses,
        sum(case when score >= 9 then 1 else 0 end) as promoters,
        sum(case when score >= 7 and score < 9 then 1 else 0 end) as passives,
        sum(case when score < 7 then 1 else 0 end) as detractors,
        count(distinct customer_id) as customers
    from responses
    group by period_index
),

scored as (
    select
        periods.period_index,
        periods.period_start,
        coalesce(counts.responses, 0) as responses,
        coalesce(counts.customers, 0) as customers,
        coalesce(counts.promoters, 0) as promoters,
        coalesce(counts.passives, 0) as passives,
        coalesce(counts.detractors, 0) as detractors,
        net_promoter_score(counts.promoters, counts.detractors, counts.responses) as nps,
        nps_margin(counts.promoters, counts.detractors, counts.responses) as margin
    from periods
    left join counts on counts.period_index = periods.period_index
),

final as (
    -- the interval is clipped to the scale
    select
        period_index,
        period_start as date_period,
        responses,
        customers,
        promoters,
        passives,
        detractors,
        nps,
        margin as nps_margin,
        case when nps - margin < -100 then -100 else nps - margin end as nps_ci_lower,
        case when nps + margin > 100 then 100 else nps + margin end as nps_ci_upper
    from scored
)

select * from final
