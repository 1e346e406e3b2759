"""What the app's database sessions are set up with (o2c/settings.py, DATABASES)."""

import pytest
from django.db import connection


@pytest.mark.django_db
def test_the_app_plans_for_a_cached_working_set():
    """Per-chunk statements by thousands of ids probe the primary key instead of scanning the table: the
    app's sessions price a random page read as an SSD-backed, cached server does (O2C_DB_RANDOM_PAGE_COST)."""
    with connection.cursor() as cur:
        cur.execute("SHOW random_page_cost")
        assert cur.fetchone()[0] == "1.1"
