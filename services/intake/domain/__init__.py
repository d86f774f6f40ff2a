"""The intake's rules, free of Flask and SQLAlchemy."""
