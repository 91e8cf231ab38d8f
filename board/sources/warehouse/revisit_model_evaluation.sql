select * from marts.revisit_model_evaluation
