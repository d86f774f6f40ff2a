"""What both services share: configuration, logging and the official code tables."""
