"""Field-level request checks with the real API's error wording.

Every checker takes the JSON object, the key and the parameter path prefix (for messages such as
`additional_messages[0].role`) and raises a 400 `APIError` naming that path.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from batchrunner.simulator.errors import APIError, invalid

_MISSING = object()
METADATA_MAX_PAIRS = 16
METADATA_KEY_MAX = 64
METADATA_VALUE_MAX = 512
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def param_path(prefix: str, key: str | int) -> str:
    """`prefix.key`, or `prefix[index]` for list positions."""
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


def describe_type(value: Any) -> str:
    """How the API names a JSON value's type in its messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def wrong_type(param: str, expected: str, value: Any) -> APIError:
    """The API's message for a value of the wrong JSON type."""
    return invalid(f"Invalid type for '{param}': expected {expected}, but got {describe_type(value)} instead.", param)


def expect_object(value: Any, param: str) -> dict[str, Any]:
    """The value as a JSON object, or a 400."""
    if not isinstance(value, dict):
        raise wrong_type(param or "body", "an object", value)
    return value


def reject_unknown(body: dict[str, Any], allowed: Collection[str], prefix: str) -> None:
    """additionalProperties: false."""
    for key in body:
        if key not in allowed:
            param = param_path(prefix, key)
            raise invalid(f"Unrecognized request argument supplied: {param}", param)


def require(body: dict[str, Any], key: str, prefix: str) -> Any:
    """A required key's value, or the API's "Missing required parameter" 400."""
    if key not in body:
        param = param_path(prefix, key)
        raise invalid(f"Missing required parameter: '{param}'.", param)
    return body[key]


def _lookup(body: dict[str, Any], key: str, prefix: str, nullable: bool, expected: str) -> Any:
    value = body.get(key, _MISSING)
    if value is _MISSING:
        return None
    if value is None and not nullable:
        raise wrong_type(param_path(prefix, key), expected, value)
    return value


def get_string(
    body: dict[str, Any],
    key: str,
    prefix: str = "",
    *,
    nullable: bool = True,
    max_length: int | None = None,
    pattern: re.Pattern[str] | None = None,
) -> str | None:
    """An optional string field."""
    value = _lookup(body, key, prefix, nullable, "a string")
    if value is None:
        return None
    param = param_path(prefix, key)
    if not isinstance(value, str):
        raise wrong_type(param, "a string", value)
    if max_length is not None and len(value) > max_length:
        raise invalid(
            f"Invalid '{param}': string too long. Expected a string with maximum length {max_length}, "
            f"but got a string with length {len(value)} instead.",
            param,
        )
    if pattern is not None and not pattern.match(value):
        raise invalid(
            f"Invalid '{param}': string does not match pattern. Expected a string that matches the "
            f"pattern '{pattern.pattern}'.",
            param,
        )
    return value


def get_number(body: dict[str, Any], key: str, prefix: str = "", *, minimum: float, maximum: float) -> float | None:
    """An optional, nullable number within [minimum, maximum]."""
    value = _lookup(body, key, prefix, True, "a decimal")
    if value is None:
        return None
    param = param_path(prefix, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise wrong_type(param, "a decimal", value)
    if value < minimum:
        raise invalid(
            f"Invalid '{param}': decimal below minimum value. Expected a value >= {minimum:g}, "
            f"but got {value:g} instead.",
            param,
        )
    if value > maximum:
        raise invalid(
            f"Invalid '{param}': decimal above maximum value. Expected a value <= {maximum:g}, "
            f"but got {value:g} instead.",
            param,
        )
    return float(value)


def get_integer(
    body: dict[str, Any], key: str, prefix: str = "", *, minimum: int, maximum: int | None = None
) -> int | None:
    """An optional, nullable integer >= minimum (and <= maximum when given)."""
    value = _lookup(body, key, prefix, True, "an integer")
    if value is None:
        return None
    param = param_path(prefix, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(param, "an integer", value)
    if value < minimum:
        raise invalid(
            f"Invalid '{param}': integer below minimum value. Expected a value >= {minimum}, but got {value} instead.",
            param,
        )
    if maximum is not None and value > maximum:
        raise invalid(
            f"Invalid '{param}': integer above maximum value. Expected a value <= {maximum}, but got {value} instead.",
            param,
        )
    return value


def get_boolean(body: dict[str, Any], key: str, prefix: str = "", *, nullable: bool = False) -> bool | None:
    """An optional boolean field."""
    value = _lookup(body, key, prefix, nullable, "a boolean")
    if value is None:
        return None
    if not isinstance(value, bool):
        raise wrong_type(param_path(prefix, key), "a boolean", value)
    return value


def check_enum(value: Any, param: str, allowed: tuple[str, ...]) -> str:
    """The value if it is one of `allowed`, else the API's "Invalid value" 400."""
    if not isinstance(value, str):
        raise wrong_type(param, "a string", value)
    if value not in allowed:
        choices = ", ".join(f"'{choice}'" for choice in allowed[:-1]) + f" and '{allowed[-1]}'"
        if len(allowed) == 1:
            choices = f"'{allowed[0]}'"
        raise invalid(f"Invalid value: '{value}'. Supported values are: {choices}.", param)
    return value


def get_enum(
    body: dict[str, Any], key: str, prefix: str, allowed: tuple[str, ...], *, nullable: bool = True
) -> str | None:
    """An optional string restricted to `allowed`."""
    value = _lookup(body, key, prefix, nullable, "a string")
    if value is None:
        return None
    return check_enum(value, param_path(prefix, key), allowed)


def get_array(
    body: dict[str, Any],
    key: str,
    prefix: str = "",
    *,
    nullable: bool = True,
    min_items: int = 0,
    max_items: int | None = None,
) -> list[Any] | None:
    """An optional array with a size range."""
    value = _lookup(body, key, prefix, nullable, "an array")
    if value is None:
        return None
    param = param_path(prefix, key)
    if not isinstance(value, list):
        raise wrong_type(param, "an array", value)
    if len(value) < min_items:
        raise invalid(
            f"Invalid '{param}': empty array. Expected an array with minimum length {min_items}, "
            f"but got an array with length {len(value)} instead.",
            param,
        )
    if max_items is not None and len(value) > max_items:
        raise invalid(
            f"Invalid '{param}': array too long. Expected an array with maximum length {max_items}, "
            f"but got an array with length {len(value)} instead.",
            param,
        )
    return value


def get_metadata(body: dict[str, Any], key: str = "metadata", prefix: str = "") -> dict[str, str] | None:
    """Metadata: at most 16 string pairs, keys <= 64 and values <= 512 characters."""
    value = _lookup(body, key, prefix, True, "an object")
    if value is None:
        return None
    param = param_path(prefix, key)
    if not isinstance(value, dict):
        raise wrong_type(param, "an object", value)
    if len(value) > METADATA_MAX_PAIRS:
        raise invalid(
            f"Invalid '{param}': too many properties. Expected an object with at most "
            f"{METADATA_MAX_PAIRS} properties, but got an object with {len(value)} properties instead.",
            param,
        )
    for meta_key in value:
        if len(meta_key) > METADATA_KEY_MAX:
            raise invalid(
                f"Invalid '{param}': string too long. Expected a string with maximum length "
                f"{METADATA_KEY_MAX}, but got a string with length {len(meta_key)} instead.",
                param,
            )
        get_string(value, meta_key, param, nullable=False, max_length=METADATA_VALUE_MAX)
    return dict(value)
