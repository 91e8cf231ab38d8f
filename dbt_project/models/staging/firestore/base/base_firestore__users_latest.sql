{{ firestore_latest('users_raw_latest') }}
