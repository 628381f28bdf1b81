-- csat: customer satisfaction per period — top-2-box share and mean score
with responses as (
    select
        customer_id,
        period_index,
        score
    from stg_survey_responses
    where lower(survey) = 'csat' and score is not null
),

periods as (
    -- every period from the first one of responses to as_of's
    select
        period_index,
        period_start
    from sr_periods_from(responses)
),

counts as (
    select
        period_index,
        count(*) as responses,
        sum(case when score >= 4 then 1 else 0 end) as satisfied,
        sum(score) as score_total
    from responses
    group by period_index
),

final as (
    select
        periods.period_index,
        periods.period_start as date_period,
        coalesce(counts.responses, 0) as responses,
        coalesce(counts.satisfied, 0) as satisfied,
        csat_score(counts.satisfied, counts.responses) as csat,
        safe_divide(counts.score_total, counts.responses) as mean_score
    from periods
    left join counts on counts.period_index = periods.period_index
)

select * from final
