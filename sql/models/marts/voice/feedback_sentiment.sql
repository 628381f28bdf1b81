-- feedback_sentiment: comments per period by sentiment — the sentiment column when it holds
-- a label, else the classify_sentiment() Arrow UDF on the comment (DuckDB only)
with responses as (
    select
        period_index,
        comment,
        sentiment
    from stg_survey_responses
    where (comment is not null and trim(comment) <> '') or sentiment is not null
),

periods as (
    -- every period from the first one of responses to as_of's
    select
        period_index,
        period_start
    from sr_periods_from(responses)
),

labelled as (
    select
        period_index,
        case
            when lower(trim(sentiment)) in ('positive', 'neutral', 'negative')
                then lower(trim(sentiment))
            when comment is not null and trim(comment) <> '' then classify_sentiment(comment)
        end as sentiment,
        case
            when lower(trim(sentiment)) in ('positive', 'neutral', 'negative') then 0
            else 1
        end as is_classified
    from responses
),

counts as (
    select
        period_index,
        count(*) as comments,
        sum(case when sentiment = 'positive' then 1 else 0 end) as positive,
        sum(case when sentiment = 'neutral' then 1 else 0 end) as neutral,
        sum(case when sentiment = 'negative' then 1 else 0 end) as negative,
        sum(is_classified) as classified
    from labelled
    where sentiment is not null
    group by period_index
),

final as (
    select
        periods.period_index,
        periods.period_start as date_period,
        coalesce(counts.comments, 0) as comments,
        coalesce(counts.positive, 0) as positive,
        coalesce(counts.neutral, 0) as neutral,
        coalesce(counts.negative, 0) as negative,
        pct(counts.positive, counts.comments) as positive_share,
        pct(counts.neutral, counts.comments) as neutral_share,
        pct(counts.negative, counts.comments) as negative_share,
        coalesce(counts.classified, 0) as classified_comments
    from periods
    left join counts on counts.period_index = periods.period_index
)

select * from final
