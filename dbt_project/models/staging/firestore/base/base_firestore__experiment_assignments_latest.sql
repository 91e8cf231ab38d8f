{{ firestore_latest('experiment_assignments_raw_latest') }}
