"""k-anonymity of worker surveys: no published figure may give away a group of fewer than 5 respondents."""

from __future__ import annotations

from datetime import date

from tests.builders import survey
from tests.conftest import System


def _post(system: System, district: str, n: int, climate: int, enterprise: int) -> None:
    for _ in range(n):
        assert (
            system.post(survey(district=district, enterprise=enterprise, climate=climate)).status_code == 201
        )


def test_a_parent_is_hidden_when_it_would_give_away_a_hidden_child(system: System) -> None:
    _post(system, "330784", 5, climate=4, enterprise=1)  # Yongkang 5: shown
    _post(system, "330106", 4, climate=2, enterprise=2)  # Xihu 4: hidden
    system.sync()
    assert system.report("330784")["figures"]["worker_survey"]["responses"] == 5
    assert system.report("330106")["figures"]["worker_survey"]["responses"] == "suppressed"
    # Hangzhou = Xihu's 4 alone: hidden; Zhejiang 9 - Jinhua 5 would reveal it: hidden too
    assert system.report("330100")["figures"]["worker_survey"]["responses"] == "suppressed"
    zhejiang = system.report("330000")["figures"]["worker_survey"]
    assert zhejiang == {"responses": "suppressed", "suppressed": True}


def test_a_parent_of_visible_children_shows_their_combined_figures(system: System) -> None:
    _post(system, "330784", 5, climate=4, enterprise=1)  # Yongkang: climate 4 on all six statements
    _post(system, "330702", 5, climate=2, enterprise=3)  # Wucheng: climate 2
    _post(system, "330106", 3, climate=5, enterprise=2)  # Xihu 3: hidden ...
    _post(system, "330109", 2, climate=5, enterprise=4)  # ... and Xiaoshan 2: hidden, but 5 together
    system.sync()
    jinhua = system.report("330700")["figures"]["worker_survey"]
    # (5*6*4 + 5*6*2) / (10*6) = 180 / 60 = 3.0; cooperation 3 everywhere; 10 respondents
    assert (jinhua["responses"], jinhua["safety_climate_index"], jinhua["cooperation_index"]) == (
        10,
        3.0,
        3.0,
    )
    assert (jinhua["share_trained"], jinhua["share_insured"], jinhua["injuries_per_100"]) == (1.0, 0.0, 0.0)
    # Hangzhou's two hidden districts hold 5 together: Hangzhou may show them as a group of 5
    hangzhou = system.report("330100")["figures"]["worker_survey"]
    assert (hangzhou["responses"], hangzhou["safety_climate_index"]) == (5, 5.0)
    zhejiang = system.report("330000", period="year", date=date(2026, 11, 27).isoformat())["figures"]
    assert zhejiang["worker_survey"]["responses"] == 15
    assert zhejiang["worker_survey"]["safety_climate_index"] == round((120 + 60 + 150) / 90, 3)  # 3.667
