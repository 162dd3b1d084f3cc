"""The core every part shares: settings, the database and its tables, photo storage."""
