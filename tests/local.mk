# Unit tests (cmocka)
