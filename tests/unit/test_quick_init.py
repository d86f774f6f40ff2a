"""``quick_init`` (services/common/frozen.py): a cheaper __init__ that changes nothing else of a frozen dataclass."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import date
from typing import Any

import pytest

from services.aggregator.domain.facts import Fact, HazardFound
from services.common.frozen import quick_init
from services.eventlog.envelope import Event
from services.eventlog.source import Delivery


@dataclasses.dataclass(frozen=True)
class _Plain:
    a: int
    b: str = "x"
    c: tuple[int, ...] = ()


_GENERATED = inspect.signature(_Plain.__init__)
_Quick: Any = quick_init(
    dataclasses.make_dataclass("_Quick", [("a", int), ("b", str, "x"), ("c", tuple, ())], frozen=True)
)


def test_the_instances_are_what_the_generated_init_makes() -> None:
    quick, plain = _Quick(1, c=(2,)), _Plain(1, c=(2,))
    assert (quick.a, quick.b, quick.c) == (plain.a, plain.b, plain.c) == (1, "x", (2,))
    assert quick == _Quick(1, "x", (2,)) and hash(quick) == hash(_Quick(1, "x", (2,)))
    assert quick != _Quick(2)
    assert dataclasses.replace(quick, b="y") == _Quick(1, "y", (2,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.a = 2
    with pytest.raises(TypeError):
        _Quick()  # a required field stays required
    assert [(p.name, p.default) for p in inspect.signature(_Quick.__init__).parameters.values()] == [
        (p.name, p.default) for p in _GENERATED.parameters.values()
    ]


@pytest.mark.parametrize("cls", [Delivery, Event, Fact, HazardFound])
def test_the_hot_path_classes_keep_their_fields_and_stay_frozen(cls: Any) -> None:
    fields = [f.name for f in dataclasses.fields(cls)]
    params = list(inspect.signature(cls.__init__).parameters)[1:]
    assert params == fields
    required = [f for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    obj = cls(*[date(2026, 1, 1) if f.name == "deadline" else f.name for f in required])
    assert {f.name: getattr(obj, f.name) for f in required} == {
        f.name: date(2026, 1, 1) if f.name == "deadline" else f.name for f in required
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, fields[0], "changed")


def test_classes_it_cannot_speed_up_are_refused() -> None:
    def made(**options: object) -> type:
        return dataclasses.make_dataclass("X", [("a", int)], frozen=True, **options)  # type: ignore[arg-type]

    with pytest.raises(TypeError):
        quick_init(made(slots=True))
    with pytest.raises(TypeError):
        quick_init(made(kw_only=True))
    with pytest.raises(TypeError):
        quick_init(
            dataclasses.make_dataclass(
                "Y", [("a", list, dataclasses.field(default_factory=list))], frozen=True
            )
        )
    with pytest.raises(TypeError):
        quick_init(
            dataclasses.make_dataclass("Z", [("a", int)], frozen=True, namespace={"__post_init__": print})
        )
