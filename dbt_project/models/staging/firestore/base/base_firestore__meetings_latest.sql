{{ firestore_latest('meetings_raw_latest') }}
