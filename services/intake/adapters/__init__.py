"""Where the intake keeps things: its tables and the repository over them."""
