"""Clock, errors and numeric helpers shared by every layer."""
