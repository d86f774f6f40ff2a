"""Personal numbers kept out of anonymous and free-text fields."""

from __future__ import annotations

import pytest

from services.common.personal import is_resident_id, personal_number


@pytest.mark.parametrize(
    "text",
    [
        "13812345678",
        "联系 139-1234-5678 王",
        "tel 186 1234 5678.",
        "330784198501011188",
        "id 11010519491231002X",
    ],
)
def test_mobile_and_resident_identity_numbers_are_found(text: str) -> None:
    assert personal_number(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "yk-aj-0217",
        "91330784MA2HR1K6XX",  # a credit code
        "12345678901",  # 11 digits, not a mobile prefix
        "138123456789",  # 12 digits: no mobile number stands alone in it
        "330784198501011189",  # the right shape, a wrong check character
        "330784198502301188",  # no 30 February
        "dust collector 3 of 7 blocked since 2026-11-02; 120 kg of dust",
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert personal_number(text) is None


def test_the_iso_7064_check_character_of_the_standards_example() -> None:
    assert is_resident_id("11010519491231002X")  # GB 11643's own example
    assert not is_resident_id("110105194912310021")
