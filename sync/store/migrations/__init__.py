"""Alembic environment and revisions for the state store (see sync/store/migrate.py)."""
