"""The garbage-collector settings of the long-running processes: gunicorn workers apply them once the app is
loaded, and ``score aggregator consume`` once its consumer is built (``services/common/gctune.py``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.common import gunicorn_conf
from services.common.gctune import GC_YOUNG_THRESHOLD


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_a_gunicorn_worker_freezes_its_start_up_objects_and_raises_the_young_threshold() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    gunicorn_conf.post_worker_init(worker=None)
    assert gc.get_freeze_count() > 10_000  # what the imported app and its libraries built
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
    # a full collection no longer walks the frozen objects
    before = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() == before
