"""Field errors: what a collector's device is told when a submission is refused.

Every error carries a path into the request body, a machine-readable code (stable: form builders switch on
it) and a message in English and Simplified Chinese that says what was expected, so that an inspector in a
Yongkang workshop can correct the form without calling anyone.

Inside marshmallow an error travels as an :class:`Err`: a ``str`` subclass (marshmallow's message containers
are typed as strings) carrying the code and its parameters.  :func:`field_errors` walks marshmallow's nested
error dict and turns every ``Err`` into a :class:`FieldError` with a dotted path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from marshmallow import ValidationError

#: marshmallow's key for errors that belong to the object itself rather than to one of its fields
SCHEMA_KEY = "_schema"


class Tr(NamedTuple):
    """A message parameter that reads differently in English and Chinese."""

    en: str
    zh: str


class Err(str):
    """A marshmallow error message that remembers its code and parameters.

    The string value is the code, which is what shows up should an ``Err`` ever be printed raw.
    """

    code: str
    params: dict[str, Any]

    def __new__(cls, code: str, **params: Any) -> Err:
        self = super().__new__(cls, code)
        self.code = code
        self.params = params
        return self

    # marshmallow deep-copies fields (and with them their error messages) for every schema instance; an Err is
    # immutable, so a copy is the object itself (the default copy protocol would call __new__ wrongly).
    def __copy__(self) -> Err:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Err:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_err, (self.code, self.params))


def _rebuild_err(code: str, params: dict[str, Any]) -> Err:
    return Err(code, **params)


def fail(code: str, **params: Any) -> ValidationError:
    """The exception a field or validator raises for one rule broken."""
    return ValidationError([Err(code, **params)])


#: code -> (English, Chinese) templates; parameters in braces.  Every code the forms and the domain
#: (``services.intake.domain.errors``) can produce is here: a test checks that each message renders in both
#: languages.
MESSAGES: dict[str, tuple[str, str]] = {
    "required": ("is required", "为必填项"),
    "unknown_field": (
        "is not a field here; expected only: {allowed}",
        "不是此处允许的字段；只允许：{allowed}",
    ),
    "invalid_type": ("must be {expected}", "必须是{expected}"),
    "invalid_choice": ("must be one of {choices}", "必须是以下之一：{choices}"),
    "invalid_format": ("must be {expected}", "必须是{expected}"),
    "blank": ("must not be blank", "不能为空白"),
    "length": (
        "must have {min} to {max} {unit}, got {actual}",
        "必须包含 {min} 至 {max} 个{unit}，实际为 {actual} 个",
    ),
    "range": ("must be between {min} and {max}, got {actual}", "必须在 {min} 至 {max} 之间，实际为 {actual}"),
    "duplicate": (
        "must be unique: {value} already appears at index {first}",
        "不能重复：{value} 已在索引 {first} 处出现",
    ),
    "uscc": (
        "must be a unified social credit code (GB 32100-2015: 18 characters, the last a check character): "
        "{detail}",
        "必须是统一社会信用代码（GB 32100-2015，18 位，含校验码）：{detail}",
    ),
    "uscc_not_enterprise": (
        "must be an enterprise's code, issued by market regulation (first character 9), got one whose "
        "registration authority is {authority}",
        "必须是市场监管部门登记的企业统一社会信用代码（首位为 9），此代码的登记管理部门代码为 {authority}",
    ),
    "personal_data": (
        "must not contain personal data: it holds a {kind}",
        "不得包含个人信息：其中含有{kind}",
    ),
    "unknown_district": (
        "must be an active county-level or prefecture code (GB/T 2260) of the pilot area, e.g. 330784 for "
        "Yongkang; {value} is not one",
        "必须是试点地区现行的县级或地级行政区划代码（GB/T 2260），如永康市 330784；{value} 不是",
    ),
    "district_retired": (
        "{value} ({name_en}) was retired in 2021; use its successor {successor} ({successor_en})",
        "{value}（{name_zh}）已于 2021 年撤销，请使用 {successor}（{successor_zh}）",
    ),
    "district_level": (
        "must be a county-level or prefecture code, not the province {value} ({name_en})",
        "必须是县级或地级行政区划代码，不能是省级代码 {value}（{name_zh}）",
    ),
    "future_date": (
        "must not be later than {latest} ({basis}), got {actual}",
        "不能晚于 {latest}（{basis}），实际为 {actual}",
    ),
    "deadline_before_inspection": (
        "must not be before the inspection date {inspection_date}, got {actual}",
        "整改期限不能早于检查日期 {inspection_date}，实际为 {actual}",
    ),
    "hazard_required": (
        "is required when result is fail: give the hazard's severity, finding and deadline",
        "检查结果为 fail 时必须填写隐患：等级（severity）、描述（finding）和整改期限（deadline）",
    ),
    "hazard_forbidden": (
        "must be left out unless result is fail (result is {result})",
        "只有检查结果为 fail 时才能填写隐患（当前结果为 {result}）",
    ),
    "unsupported_version": (
        "must be one of the versions of form {form}: {versions}; got {actual}",
        "必须是表单 {form} 的版本之一：{versions}；实际为 {actual}",
    ),
    "replaces_self": (
        "must name an earlier submission, not this submission's own id",
        "必须是之前某次提交的编号，不能是本次提交自己的 submission_id",
    ),
    # --- the domain's rules (services.intake.domain): whole sentences, since they may concern no field ---
    "id_reused": (
        "submission {submission_id} was already received with different content; "
        "send a correction with a new id and replaces set instead",
        "提交编号 {submission_id} 已用于内容不同的提交；如需更正，请使用新编号并填写 replaces",
    ),
    "already_replaced": (
        "submission {submission_id} was already replaced by {by}",
        "提交 {submission_id} 已被 {by} 更正，不能再次更正",
    ),
    "replaces_other_form": (
        "a {form} cannot replace a {replaced_form}",
        "{form} 表单不能更正 {replaced_form} 表单",
    ),
    "unknown_submission": (
        "replaces names submission {submission_id}, which does not exist",
        "replaces 指向的提交 {submission_id} 不存在",
    ),
    "unknown_inspection": (
        "no factory inspection {inspection_id} was received",
        "未收到编号为 {inspection_id} 的工厂检查",
    ),
    "unknown_hazard": (
        "inspection {inspection_id} found no hazard at item {item_code}",
        "检查 {inspection_id} 中检查项 {item_code} 没有隐患",
    ),
    "rectified_before_found": (
        "must not be before the inspection date {found_on}",
        "整改日期不能早于检查日期 {found_on}",
    ),
    "already_rectified": (
        "hazard {item_code} of inspection {inspection_id} was already rectified by {by}; "
        "send a correction with replaces set to change it",
        "检查 {inspection_id} 的隐患 {item_code} 已由 {by} 整改；如需修改，请提交更正并填写 replaces",
    ),
    "comment_required": ("a rejection needs a comment", "驳回时必须填写意见"),
    "not_current": (
        "submission {submission_id} was replaced by {by}; review the newest version",
        "提交 {submission_id} 已被 {by} 更正，请审核最新版本",
    ),
    "review_id_reused": (
        "review {review_id} was already recorded with different content; "
        "send a new review with a new review_id instead",
        "审核编号 {review_id} 已用于内容不同的审核；如需重新审核，请使用新的审核编号",
    ),
    "concurrent_review": (
        "another review was recorded at the same moment; reload and retry",
        "同时有另一条审核记录，请刷新后重试",
    ),
    "not_found": ("no submission {submission_id}", "没有编号为 {submission_id} 的提交"),
    "attachment_type": (
        "a photo must be sent as one of {allowed}, got {actual}",
        "照片的 Content-Type 必须是以下之一：{allowed}，实际为 {actual}",
    ),
    "attachment_too_large": (
        "the photo has {actual} bytes, more than the {limit} allowed; resize it on the device",
        "照片为 {actual} 字节，超过上限 {limit} 字节，请在设备上缩小后再上传",
    ),
    "attachment_content": (
        "the {size} bytes sent are not a whole {declared} image (cut off, empty or of another type)",
        "所发送的 {size} 字节不是完整的 {declared} 图片（不完整、为空或为其他格式）",
    ),
    "attachment_id_reused": (
        "attachment {attachment_id} was already stored with other content; give a new photo a new id",
        "附件编号 {attachment_id} 已用于内容不同的附件；新照片请使用新编号",
    ),
    "unknown_attachment": (
        "no photo {attachment_id} was uploaded by this account; upload it (PUT /api/v1/attachments/"
        "{attachment_id}) before sending the record",
        "本账号未上传编号为 {attachment_id} 的照片；请先上传照片（PUT /api/v1/attachments/{attachment_id}），"
        "再发送记录",
    ),
    "attachment_not_found": ("no attachment {attachment_id}", "没有编号为 {attachment_id} 的附件"),
}


@dataclass(frozen=True)
class FieldError:
    """One rule broken at one place of the request body.

    ``path`` uses dots for fields and ``[i]`` for list indexes (``data.items[3].hazard.severity``); the
    envelope's own fields are top level (``collected_at``); ``""`` is the body itself.
    """

    path: str
    code: str
    message: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "code": self.code, "message": dict(self.message)}


class Invalid(Exception):
    """A submission broke one or more rules; ``errors`` lists every one found, not just the first."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.path or '<body>'}: {e.code}" for e in errors))


def render(code: str, params: Mapping[str, Any]) -> dict[str, str]:
    """The English and Chinese message for ``code``."""
    en, zh = MESSAGES.get(code, ("is not valid", "无效"))
    return {
        "en": en.format(**{k: v.en if isinstance(v, Tr) else v for k, v in params.items()}),
        "zh": zh.format(**{k: v.zh if isinstance(v, Tr) else v for k, v in params.items()}),
    }


def make(path: str, code: str, **params: Any) -> FieldError:
    return FieldError(path=path, code=code, message=render(code, params))


def _join(path: str, key: object) -> str:
    if key == SCHEMA_KEY:
        return path
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _walk(messages: object, path: str) -> Iterator[tuple[str, object]]:
    if isinstance(messages, Mapping):
        for key, sub in messages.items():
            yield from _walk(sub, _join(path, key))
    elif isinstance(messages, list | tuple):
        for sub in messages:
            yield from _walk(sub, path)
    else:
        yield path, messages


def field_errors(messages: object, prefix: str = "") -> list[FieldError]:
    """Flatten marshmallow's nested error messages into field errors with paths below ``prefix``."""
    found: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for path, message in _walk(messages, prefix):
        if isinstance(message, Err):
            code, params = message.code, message.params
        else:  # a plain marshmallow message: none should reach here, but never lose an error
            code, params = "invalid", {}
        if (path, code) not in seen:
            seen.add((path, code))
            found.append(FieldError(path=path, code=code, message=_render_or_raw(code, params, message)))
    return found


def _render_or_raw(code: str, params: Mapping[str, Any], message: object) -> dict[str, str]:
    if code in MESSAGES:
        return render(code, params)
    return {"en": str(message), "zh": str(message)}
