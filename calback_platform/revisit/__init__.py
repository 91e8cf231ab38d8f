"""The revisit model: which new users will come back, learnt from their first week."""

# The figures each scorer gets on the holdout (evaluation.scores_summary), in their order. Here,
# not in evaluation.py, so the assets' table schemas read them without importing scikit-learn.
FIGURES = ("roc_auc", "pr_auc", "brier", "top_decile_lift")
