"""Objects more than one form uses: who collected or verified a record."""

from __future__ import annotations

from .errors import Tr
from .fields import Choice, Text
from .objects import FormSchema

ROLES = ("inspector", "trainer", "enterprise")
#: account ids are machine identifiers; the pattern keeps personal names (and e-mail addresses) out
ACCOUNT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ACCOUNT_ID = Tr(
    "a platform account id: 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit",
    "平台账号：1-64 个 ASCII 字母、数字、“.”、“_”或“-”，以字母或数字开头",
)


class Person(FormSchema):
    """Who collected or verified a record: an account id and the role it acted in (never a name)."""

    json_description = "A platform account and the role it acted in; no names or phone numbers."

    id = Text(
        max_length=64,
        pattern=ACCOUNT_ID_PATTERN,
        pattern_expected=ACCOUNT_ID,
        no_personal_numbers=True,  # a phone or ID number is not an account id (and would name the worker)
        required=True,
        metadata={
            "description": "Platform account id, e.g. yk-aj-0217 (not a name: ASCII letters and digits)."
        },
    )
    role = Choice(
        ROLES, required=True, metadata={"description": "inspector (MEM bureau), trainer (SCORE), enterprise."}
    )
