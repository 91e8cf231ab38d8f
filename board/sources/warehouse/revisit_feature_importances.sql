select * from marts.revisit_feature_importances
