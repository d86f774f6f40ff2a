"""Logging for every process: ``score`` commands and the gunicorn-served APIs get the same configuration.

``SCORE_LOG_FORMAT=console`` (default) writes readable lines, ``json`` one JSON object per line; the
request line of ``services.common.weblog`` carries its fields (``request_id``, ``method``, ``path``,
``status``, ``ms``) as keys of that object.  Under gunicorn the same dictionary is its ``logconfig_dict``
(see ``services.common.gunicorn_conf``): without it the root logger has no handler there and the per-request
INFO lines were silently dropped.
"""

from __future__ import annotations

import json
import logging
import logging.config
from typing import Any

CONSOLE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; a record's ``http`` extra (the request line) is merged in."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": self.formatTime(record),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
                **getattr(record, "http", {}),
                **({"exc": self.formatException(record.exc_info)} if record.exc_info else {}),
            },
            ensure_ascii=False,
        )


def logging_config(log_format: str = "console", verbose: bool = False) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dictionary: everything to stderr in the chosen format, gunicorn's own
    loggers included (so a JSON log stays JSON from its first line), chatty libraries at WARNING."""
    level = "DEBUG" if verbose else "INFO"
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if log_format == "json" else {"format": CONSOLE_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"score": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "score", "stream": "ext://sys.stderr"}
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            # gunicorn's loggers have handlers of their own: route them to ours instead, once
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            # weblog's line is the request log; gunicorn's access line would repeat it without the request id
            "gunicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
            "kafka": {"level": "WARNING"},
            # kafka-python warns on every SCRAM login over SASL_PLAINTEXT that credentials go "in the clear";
            # SCRAM sends a salted proof, never the password, and the broker we run that way binds loopback only
            "kafka.net.sasl.scram": {"level": "ERROR"},
            "werkzeug": {"level": "WARNING"},
        },
    }


def configure_logging(log_format: str = "console", verbose: bool = False) -> None:
    logging.config.dictConfig(logging_config(log_format, verbose))


__all__ = ["JsonFormatter", "configure_logging", "logging_config"]
