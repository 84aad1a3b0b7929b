"""The MLS protocol engine (sans-I/O)."""
