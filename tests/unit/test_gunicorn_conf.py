"""The gunicorn settings both APIs start with (``services/common/gunicorn_conf.py``): the garbage-collector
settings a worker applies once the app is loaded (``services/common/gctune.py``; ``score aggregator consume``
applies them once its consumer is built), and the master's clearing of its metrics directory."""

from __future__ import annotations

import gc
import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from services.common.gctune import GC_YOUNG_THRESHOLD


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The settings module, loaded with a metrics directory of this test's own.

    Loading it sets ``PROMETHEUS_MULTIPROC_DIR`` in this process (what a gunicorn master hands its workers);
    monkeypatch takes that back afterwards.  Imported at collection instead, it had leaked into every later
    test's child processes: all their gunicorns shared one directory, and two starting at once (the bench's
    intake and reports) raced to delete the same leftover files (CI failed on it twice)."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    module = importlib.reload(importlib.import_module("services.common.gunicorn_conf"))
    yield module
    monkeypatch.undo()
    assert os.environ.get("PROMETHEUS_MULTIPROC_DIR") != str(tmp_path / "metrics")


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_a_gunicorn_worker_freezes_its_start_up_objects_and_raises_the_young_threshold(
    conf: ModuleType,
) -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    conf.post_worker_init(worker=None)
    assert gc.get_freeze_count() > 10_000  # what the imported app and its libraries built
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
    # a full collection no longer walks the frozen objects
    before = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() == before


def test_the_master_empties_its_metrics_directory_at_start(conf: ModuleType) -> None:
    metrics = Path(conf.METRICS_DIR)
    metrics.mkdir(parents=True)
    for name in ("counter_101.db", "histogram_102.db"):
        (metrics / name).write_bytes(b"counts of an earlier run")
    (metrics / "notes.txt").write_text("not ours")
    conf.on_starting(server=None)
    assert sorted(p.name for p in metrics.iterdir()) == ["notes.txt"]


def test_a_leftover_another_master_removed_first_does_not_stop_the_start(
    conf: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two gunicorns given one directory (a shared environment file) start together: each lists the leftovers,
    one deletes them first.  The other used to die of FileNotFoundError with exit status 1 before it bound
    its port."""
    metrics = Path(conf.METRICS_DIR)
    metrics.mkdir(parents=True)
    (metrics / "counter_7.db").write_bytes(b"x")
    listed = Path.glob

    def listed_then_taken(self: Path, pattern: str) -> Iterator[Path]:
        found = list(listed(self, pattern))
        for path in found:
            path.unlink()  # the other master was quicker
        return iter(found)

    monkeypatch.setattr(Path, "glob", listed_then_taken)
    conf.on_starting(server=None)
    assert not list(metrics.iterdir())
