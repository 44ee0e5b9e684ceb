"""HDMS platform: the code all four services share, once."""
