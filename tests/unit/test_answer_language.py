"""The language of an answer (``services.common.webapp.lang``): the request's ``Accept-Language`` as Werkzeug
reads it, remembered per header value, so a value seen before is answered without parsing it again."""

from __future__ import annotations

import pytest
from flask import Flask

from services.common import webapp

HEADERS = [
    (None, "zh"),
    ("", "zh"),
    ("en", "en"),
    ("en-US,en;q=0.9", "en"),
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    ("en;q=0.1,zh;q=0.9", "zh"),
    ("en-GB;q=0.8,fr;q=0.9", "en"),
    ("fr", "zh"),
    ("*", "zh"),
    ("zh-TW", "zh"),
    (";;;,,q=x", "zh"),
]


@pytest.mark.parametrize(("header", "expected"), HEADERS)
def test_the_language_asked_for_and_the_same_again_from_memory(header: str | None, expected: str) -> None:
    app = Flask(__name__)
    headers = {} if header is None else {"Accept-Language": header}
    with app.test_request_context(headers=headers):
        assert webapp.lang() == expected
        before = webapp._lang_of.cache_info().hits
        assert webapp.lang() == expected
        assert webapp._lang_of.cache_info().hits == before + 1


def test_made_up_header_values_cannot_grow_the_memory() -> None:
    app = Flask(__name__)
    for i in range(1000):
        with app.test_request_context(headers={"Accept-Language": f"x-{i}"}):
            assert webapp.lang() == "zh"
    assert webapp._lang_of.cache_info().currsize <= 256
