"""The PostgreSQL backend with a schema editor that also knows Citus (see `o2c.citus`)."""
