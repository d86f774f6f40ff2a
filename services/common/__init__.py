"""What both services share: configuration, database engines and migrations, logging, the China clock, the
official code tables, the retry backoff, and what both web apps are built from (``webapp``, ``weblog``,
``openapi``)."""
