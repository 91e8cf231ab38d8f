select * from metrics.metric_definitions
