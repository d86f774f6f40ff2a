"""A hazard is rectified at most once in the figures, however its rectifications are reviewed."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from services.aggregator.adapters.tables import dead_letters
from tests.builders import inspection, rectification
from tests.conftest import System


def _review(system: System, submission_id: str, status: str, comment: str | None = None) -> None:
    resp = system.client.post(
        f"/api/v1/submissions/{submission_id}/review",
        json={"status": status, "reviewer": "bureau-yk-01", **({"comment": comment} if comment else {})},
    )
    assert resp.status_code == 200, resp.get_json()


def test_two_counting_rectifications_of_one_hazard_count_it_once(system: System) -> None:
    insp = inspection(failed=[("DUST-01", "dust_explosion", "major", "2026-11-24")])
    assert system.post(insp).status_code == 201
    r1 = rectification(insp["submission_id"], "DUST-01", on=date(2026, 11, 23))
    assert system.post(r1).status_code == 201
    _review(system, r1["submission_id"], "rejected", "整改照片不清楚")
    r2 = rectification(insp["submission_id"], "DUST-01", on=date(2026, 11, 26))  # late: after 11-24
    assert system.post(r2).status_code == 201
    system.sync()
    hazards = system.report("330784")["figures"]["hazards"]
    assert (hazards["found"], hazards["rectified"], hazards["rectified_on_time"], hazards["open"]) == (
        1,
        1,
        0,
        0,
    )

    _review(system, r1["submission_id"], "approved")  # the bureau changes its mind: both now count
    system.sync()
    hazards = system.report("330784")["figures"]["hazards"]
    # one hazard, rectified (once), and on time by r1's date
    assert (hazards["found"], hazards["rectified"], hazards["rectified_on_time"], hazards["open"]) == (
        1,
        1,
        1,
        0,
    )
    assert hazards["rectification_rate"] == 1.0


def test_rejecting_an_inspection_takes_its_rectified_hazards_out_too(system: System) -> None:
    insp = inspection(
        failed=[
            ("FIRE-01", "fire", "general", "2026-11-30"),
            ("ELEC-01", "electrical", "major", "2026-11-21"),
        ]
    )
    assert system.post(insp).status_code == 201
    assert (
        system.post(rectification(insp["submission_id"], "FIRE-01", on=date(2026, 11, 22))).status_code == 201
    )
    system.sync()
    hazards = system.report("330784")["figures"]["hazards"]
    # found 2, FIRE-01 rectified on time, ELEC-01 open and past its 11-21 deadline on 11-27
    assert (hazards["found"], hazards["rectified"], hazards["open"], hazards["overdue"]) == (2, 1, 1, 1)

    _review(system, insp["submission_id"], "rejected", "检查记录不完整")
    system.sync()
    hazards = system.report("330784")["figures"]["hazards"]
    assert (hazards["found"], hazards["rectified"], hazards["open"], hazards["overdue"]) == (0, 0, 0, 0)
    assert hazards["rectification_rate"] is None

    _review(system, insp["submission_id"], "approved")
    system.sync()
    hazards = system.report("330784")["figures"]["hazards"]
    assert (hazards["found"], hazards["rectified"], hazards["rectified_on_time"], hazards["overdue"]) == (
        2,
        1,
        1,
        1,
    )


def test_photos_change_no_figure(system: System) -> None:
    """Evidence photos are references in the events; the aggregator ignores them, so the figures of a hazard
    found and rectified with photos are those of the same hazard without."""
    import uuid

    from tests.images import photo

    figures = []
    for with_photos in (False, True):
        insp = inspection(
            enterprise=5 if with_photos else 6, failed=[("DUST-01", "dust_explosion", "major", "2026-11-24")]
        )
        fix = rectification(insp["submission_id"], "DUST-01", on=date(2026, 11, 23))
        if with_photos:
            before, after = str(uuid.uuid4()), str(uuid.uuid4())
            for n, aid in enumerate((before, after)):
                resp = system.client.put(
                    f"/api/v1/attachments/{aid}", data=photo(seed=n), content_type="image/jpeg"
                )
                assert resp.status_code == 201
            insp["data"]["items"][-1]["hazard"]["photos"] = [before]
            fix["data"]["photos"] = [after]
        assert system.post(insp).status_code == 201
        assert system.post(fix).status_code == 201
        system.sync()
        figures.append(system.report("330784")["figures"]["hazards"])
    first, both = figures
    # the second pair adds exactly what the first added: one major hazard found and rectified on time
    assert (both["found"], both["rectified"], both["rectified_on_time"], both["open"]) == (
        2 * first["found"],
        2 * first["rectified"],
        2 * first["rectified_on_time"],
        0,
    )
    assert first["found"] == first["rectified"] == first["rectified_on_time"] == 1
    with system.aggregator.engine.connect() as conn:  # nothing was set aside as unreadable
        assert conn.execute(select(func.count()).select_from(dead_letters)).scalar_one() == 0
