-- The aggregator's own database beside the intake's (the image creates `score` from POSTGRES_DB): two
-- databases, so each service's can be backed up, restored or rebuilt on its own (deploy/README.md).
CREATE DATABASE score_aggregator OWNER score;
