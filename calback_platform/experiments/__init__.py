"""A/B experiments: the registry of designs, the metrics an experiment may name, the
statistics, and the analysis that turns assignments and outcomes into results and decisions."""
