-- churn_feature_lift: for each feature, the share of churned customers who used it in the 90
-- days before they churned vs the share of retained customers over the same window: the
-- features the churned customers stopped (or never started) using. The counts per period
-- are churn_lift_population and churn_lift_usage, whose closed periods a refresh keeps; this
-- adds up the periods whose window lies entirely after the first event, so that both groups
-- are observed
with first_day as (
    select min(day_index) as first_day_index
    from customer_daily_features
),

observed_population as (
    select
        churn_lift_population.churned_customers,
        churn_lift_population.retained_customers
    from churn_lift_population
    cross join first_day
    where churn_lift_population.anchor_day_index - 89 >= first_day.first_day_index
),

observed_usage as (
    select
        churn_lift_usage.event_name,
        churn_lift_usage.churned_users,
        churn_lift_usage.retained_users
    from churn_lift_usage
    cross join first_day
    where churn_lift_usage.anchor_day_index - 89 >= first_day.first_day_index
),

group_sizes as (
    select
        sum(churned_customers) as churned_customers,
        sum(retained_customers) as retained_customers
    from observed_population
),

feature_counts as (
    select
        event_name,
        sum(churned_users) as churned_users,
        sum(retained_users) as retained_users
    from observed_usage
    group by event_name
),

features as (
    select distinct event_name
    from customer_period_features
),

final as (
    select
        features.event_name,
        coalesce(group_sizes.churned_customers, 0) as churned_customers,
        coalesce(feature_counts.churned_users, 0) as churned_users,
        pct(coalesce(feature_counts.churned_users, 0), group_sizes.churned_customers)
            as churned_usage_rate,
        coalesce(group_sizes.retained_customers, 0) as retained_customers,
        coalesce(feature_counts.retained_users, 0) as retained_users,
        pct(coalesce(feature_counts.retained_users, 0), group_sizes.retained_customers)
            as retained_usage_rate,
        usage_lift(
            pct(coalesce(feature_counts.churned_users, 0), group_sizes.churned_customers),
            pct(coalesce(feature_counts.retained_users, 0), group_sizes.retained_customers)
        ) as usage_lift,
        pct(coalesce(feature_counts.churned_users, 0), group_sizes.churned_customers)
            - pct(coalesce(feature_counts.retained_users, 0), group_sizes.retained_customers)
            as usage_difference
    from features
    cross join group_sizes
    left join feature_counts on feature_counts.event_name = features.event_name
)

select * from final
