{{ firestore_latest('meetings_raw_changelog') }}
