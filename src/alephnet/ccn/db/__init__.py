"""Database: SQLAlchemy models, the engine, migrations, and accessors (one module per table)."""
