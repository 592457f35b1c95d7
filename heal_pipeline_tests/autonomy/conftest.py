import pytest


@pytest.fixture
def store_dsn(make_db):
    """A separate heal store database (the target's content hash only sees the application)."""
    return make_db(prefix="heal_t_store_")
