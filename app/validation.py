"""Turning untrusted path parameters and request bodies into checked values.

Everything here either returns a value the database accepts as is or raises `InvalidInput` with
a Portuguese message (the API's language) naming the field and what is allowed. That is what
keeps hostile input at 4xx: nothing unchecked reaches SQL (which is parameterised anyway), so
no NUL byte, lone surrogate or out-of-range integer can make PostgreSQL fail with a 5xx.
"""

from __future__ import annotations

import json
import re
from typing import Any

from app.students import StudentFields

MAX_ID = 2**63 - 1  # bigserial
_DIGITS = {"rg": 9, "cpf": 11}
_PATTERNS = {name: re.compile(f"[0-9]{{{n}}}") for name, n in _DIGITS.items()}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EXAMPLE = '{"nome": "Ana", "rg": "123456789", "cpf": "12345678901"}'
_JSON_TYPES = {dict: "objeto", list: "lista", bool: "booleano", int: "número", float: "número"}


class InvalidInput(Exception):
    """A 400: the message is shown to the client as `{"erro": message}`."""


def parse_id(raw: str) -> int:
    if raw.isascii() and raw.isdigit() and len(raw) <= 19:
        value = int(raw)
        if 1 <= value <= MAX_ID:
            return value
    raise InvalidInput(f"id inválido: use um número inteiro entre 1 e {MAX_ID}")


def parse_cpf(raw: str) -> str:
    if _PATTERNS["cpf"].fullmatch(raw):
        return raw
    raise InvalidInput("cpf inválido: use exatamente 11 dígitos (0-9)")


def _type_name(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def _problem(name: str, value: Any) -> str | None:
    """What is wrong with one field, or None."""
    if not isinstance(value, str):
        return f"{name}: deve ser um texto (string JSON), recebido {_type_name(value)}"
    if name == "nome":
        if not value.strip():
            return "nome: não pode ser vazio"
        if _CONTROL.search(value):
            return "nome: não pode conter caracteres de controle"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "nome: contém caracteres Unicode inválidos"
        return None
    if not _PATTERNS[name].fullmatch(value):
        return f"{name}: deve ter exatamente {_DIGITS[name]} dígitos (0-9)"
    return None


def parse_student(body: bytes, *, partial: bool) -> StudentFields:
    """Fields of a POST (all required) or PATCH (`partial`: those sent) body.

    Other keys are ignored, as Go's binding did; the server-managed ones (`ID`, `CreatedAt`,
    `UpdatedAt`, `DeletedAt`) included, so a body cannot pick its row or its timestamps.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # ValueError covers bad JSON, bad UTF-8, huge ints
        message = f"corpo inválido: envie um objeto JSON, por exemplo {_EXAMPLE}"
        raise InvalidInput(message) from None
    if not isinstance(data, dict):
        raise InvalidInput(
            f"corpo inválido: esperado um objeto JSON, recebido {_type_name(data)}; "
            f"por exemplo {_EXAMPLE}"
        )
    problems: list[str] = []
    values: dict[str, str] = {}
    for name in ("nome", "rg", "cpf"):
        if name not in data:
            if not partial:
                problems.append(f"{name}: campo obrigatório")
            continue
        problem = _problem(name, data[name])
        if problem:
            problems.append(problem)
        else:
            values[name] = data[name]
    if problems:
        raise InvalidInput("; ".join(problems))
    return StudentFields(**values)
