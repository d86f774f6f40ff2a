"""Form ``worker_survey`` v1: an anonymous questionnaire a worker fills in about one factory.

Anonymous by construction: every answer is a band, a scale point or a yes/no, and the contract refuses any
field it does not define, so there is nowhere to put a name, a phone number or an ID-card number.  The
factory is named by its credit code so that answers can be grouped by enterprise and district.

Scales are 1 (strongly disagree) to 5 (strongly agree).  ``sc1``..``sc6`` are safety-climate statements,
``wc1``..``wc4`` workplace-cooperation statements (SCORE module 1, the foundation of the programme); the
server publishes their means as ``safety_climate_index`` and ``cooperation_index``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from marshmallow.schema import SchemaMeta

from . import scoring
from .dataschema import DataSchema
from .errors import Tr
from .fields import Boolean, Choice, CreditCode, Integer
from .objects import FormSchema, Obj

AGE_BANDS = ("16-24", "25-34", "35-44", "45-54", "55+")
TENURE_BANDS = ("<1y", "1-3y", "3-5y", "5y+")
GENDERS = ("female", "male", "other", "undisclosed")
WEEKLY_HOURS_BANDS = ("<=40", "41-48", "49-60", ">60")
#: the safety-climate statements, by key (their mean is the safety_climate_index)
SAFETY_CLIMATE = {
    "sc1": "Management puts safety before output.",
    "sc2": "I can stop work that I think is unsafe without being punished.",
    "sc3": "Hazards I report get fixed.",
    "sc4": "I know what to do in an emergency (fire, dust explosion, injury).",
    "sc5": "Machine guards and interlocks are kept in place.",
    "sc6": "Co-workers follow the safety rules even when nobody is watching.",
}
#: the workplace-cooperation statements (SCORE module 1), by key (their mean is the cooperation_index)
COOPERATION = {
    "wc1": "Managers listen to workers' suggestions.",
    "wc2": "Workers' suggestions are put into practice.",
    "wc3": "There is a worker-management committee that meets regularly.",
    "wc4": "I am told the results of improvements.",
}


def _scales(name: str, description: str, statements: Mapping[str, str]) -> type[FormSchema]:
    """An object of 1-5 agreement scales, one per statement, all required: each key and its wording stand
    once, in ``statements``, for the contract and for the index the server computes from them."""
    fields = {
        key: Integer(minimum=1, maximum=5, required=True, metadata={"description": f"1-5: {statement}"})
        for key, statement in statements.items()
    }
    namespace = {"__module__": __name__, "json_description": description, **fields}
    return cast("type[FormSchema]", SchemaMeta(name, (FormSchema,), namespace))


SafetyClimate = _scales(
    "SafetyClimate",
    "Safety climate, 1 (strongly disagree) to 5 (strongly agree); all six required.",
    SAFETY_CLIMATE,
)
WorkplaceCooperation = _scales(
    "WorkplaceCooperation",
    "Workplace cooperation (SCORE module 1), 1 to 5; all four required.",
    COOPERATION,
)


def _yes_no(question: str) -> Boolean:
    return Boolean(required=True, metadata={"description": question})


class WorkerSurvey(DataSchema):
    """``data`` of worker_survey v1."""

    form = "worker_survey"
    version = 1
    title = Tr("Worker survey (anonymous)", "员工问卷（匿名）")
    json_description = (
        "An anonymous worker questionnaire about one factory: bands, scales and yes/no only. No names, phone "
        "numbers or ID numbers: any field not defined here is refused."
    )

    enterprise_credit_code = CreditCode(
        required=True,
        metadata={
            "description": "Credit code of the factory surveyed (GB 32100-2015).",
            "server_rules": "the GB 32100 check character (18th, mod 31).",
        },
    )
    age_band = Choice(AGE_BANDS, required=True)
    tenure_band = Choice(TENURE_BANDS, required=True, metadata={"description": "Time with this employer."})
    gender = Choice(GENDERS, metadata={"description": "Optional; leave out or answer undisclosed."})
    safety_climate = Obj(SafetyClimate, required=True)
    workplace_cooperation = Obj(WorkplaceCooperation, required=True)
    trained_on_hazards = _yes_no("Were you trained on the hazards of your job?")
    ppe_provided = _yes_no(
        "Does the employer provide the protective equipment your job needs, free of charge?"
    )
    injury_12m = _yes_no("Were you injured at work in the last 12 months?")
    near_miss_12m = _yes_no("Did you have a near miss at work in the last 12 months?")
    wages_on_time = _yes_no("Are wages paid in full and on time?")
    social_insurance = _yes_no("Does the employer pay your social insurance?")
    weekly_hours_band = Choice(
        WEEKLY_HOURS_BANDS, required=True, metadata={"description": "Usual weekly hours."}
    )

    def computed(self, submission_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "safety_climate_index": scoring.mean(data["safety_climate"][k] for k in SAFETY_CLIMATE),
            "cooperation_index": scoring.mean(data["workplace_cooperation"][k] for k in COOPERATION),
        }

    def enterprise_of(self, data: Mapping[str, Any]) -> str | None:
        code: str = data["enterprise_credit_code"]
        return code
