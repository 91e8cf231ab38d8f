select * from metrics.metric_values
