"""Validation rules and hostile input: always a 4xx with a message, never a 5xx, never a record
other than the one asked for, and nothing stored that the rules do not allow."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.web import MAX_BODY_BYTES

pytestmark = pytest.mark.anyio

ANA = {"nome": "Ana Souza", "rg": "123456789", "cpf": "12345678901"}


async def _count(client: httpx.AsyncClient) -> int:
    return len((await client.get("/alunos")).json())


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"rg": "123456789", "cpf": "12345678901"}, "nome: campo obrigatório"),
        ({**ANA, "nome": ""}, "nome: não pode ser vazio"),
        ({**ANA, "nome": "   "}, "nome: não pode ser vazio"),
        ({**ANA, "nome": "Ana\x00"}, "nome: não pode conter caracteres de controle"),
        ({**ANA, "nome": 42}, "nome: deve ser um texto"),
        ({**ANA, "nome": None}, "nome: deve ser um texto (string JSON), recebido null"),
        ({**ANA, "rg": "12345678"}, "rg: deve ter exatamente 9 dígitos"),
        ({**ANA, "rg": "1234567890"}, "rg: deve ter exatamente 9 dígitos"),
        ({**ANA, "rg": "12345678x"}, "rg: deve ter exatamente 9 dígitos"),
        ({**ANA, "rg": "١٢٣٤٥٦٧٨٩"}, "rg: deve ter exatamente 9 dígitos"),  # Arabic-Indic digits
        ({**ANA, "rg": "12345678\n"}, "rg: deve ter exatamente 9 dígitos"),
        ({**ANA, "rg": 123456789}, "rg: deve ser um texto (string JSON), recebido número"),
        ({**ANA, "cpf": "1234567890"}, "cpf: deve ter exatamente 11 dígitos"),
        ({**ANA, "cpf": "123.456.789-01"}, "cpf: deve ter exatamente 11 dígitos"),
        ({**ANA, "cpf": ["12345678901"]}, "cpf: deve ser um texto (string JSON), recebido lista"),
        ({}, "nome: campo obrigatório; rg: campo obrigatório; cpf: campo obrigatório"),
    ],
)
async def test_invalid_bodies_are_400_and_store_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], mentions: str
) -> None:
    response = await client.post("/alunos", json=body)
    assert response.status_code == 400
    assert mentions in response.json()["erro"]
    assert await _count(client) == 0


@pytest.mark.parametrize(
    ("raw", "mentions"),
    [
        (b"", "envie um objeto JSON"),
        (b"{nome: 'Ana'}", "envie um objeto JSON"),
        (b'{"nome": "Ana",', "envie um objeto JSON"),
        (b"\xff\xfe\x00garbage", "envie um objeto JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "muito grande"),
        (b"[" * 30_000 + b"]" * 30_000, "envie um objeto JSON"),  # nesting deeper than Python's
        (b'{"nome": 1' + b"0" * 5000 + b"}", "envie um objeto JSON"),  # int beyond str limits
        (b'["nome", "rg", "cpf"]', "esperado um objeto JSON, recebido lista"),
        (b'"Ana"', "esperado um objeto JSON, recebido str"),
        (b"null", "esperado um objeto JSON, recebido null"),
    ],
)
async def test_malformed_json_is_4xx(client: httpx.AsyncClient, raw: bytes, mentions: str) -> None:
    response = await client.post("/alunos", content=raw)
    assert 400 <= response.status_code < 500
    assert mentions in response.json()["erro"]
    assert await _count(client) == 0


async def test_lone_surrogate_in_nome_is_400(client: httpx.AsyncClient) -> None:
    raw = b'{"nome": "Ana \\ud800", "rg": "123456789", "cpf": "12345678901"}'
    response = await client.post("/alunos", content=raw)
    assert response.status_code == 400
    assert "nome" in response.json()["erro"]


async def test_server_managed_fields_in_a_body_are_ignored(client: httpx.AsyncClient) -> None:
    first = (await client.post("/alunos", json=ANA)).json()
    body = {
        **ANA,
        "ID": first["ID"],
        "CreatedAt": "1999-01-01T00:00:00Z",
        "DeletedAt": "1999-01-01T00:00:00Z",
        "extra": {"ignored": True},
    }
    second = (await client.post("/alunos", json=body)).json()
    assert second["ID"] != first["ID"]
    assert second["CreatedAt"] != "1999-01-01T00:00:00Z"
    assert second["DeletedAt"] is None
    patched = await client.patch(f"/alunos/{first['ID']}", json={"ID": second["ID"], "nome": "X"})
    assert patched.json()["ID"] == first["ID"]
    assert (await client.get(f"/alunos/{second['ID']}")).json()["nome"] == ANA["nome"]


async def test_body_over_the_cap_is_413(client: httpx.AsyncClient) -> None:
    big = {**ANA, "nome": "A" * (MAX_BODY_BYTES + 1)}
    response = await client.post("/alunos", json=big)
    assert response.status_code == 413
    assert str(MAX_BODY_BYTES) in response.json()["erro"]

    async def chunks() -> Any:  # no Content-Length: the cap holds on what is actually read
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b" " * 1024

    streamed = await client.post("/alunos", content=chunks())
    assert streamed.status_code == 413
    patch = await client.patch("/alunos/1", json=big)
    assert patch.status_code == 413
    absurd = await client.post("/alunos", content=b"{}", headers={"Content-Length": "9" * 5000})
    assert absurd.status_code == 413
    assert await _count(client) == 0


async def test_sql_fragments_in_bodies_are_stored_as_text(client: httpx.AsyncClient) -> None:
    nome = "Robert'); DROP TABLE alunos;--"
    created = (await client.post("/alunos", json={**ANA, "nome": nome})).json()
    assert created["nome"] == nome
    assert (await client.get(f"/alunos/{created['ID']}")).json()["nome"] == nome
    assert await _count(client) == 1


@pytest.mark.parametrize(
    "raw_id",
    [
        "abc",
        "-1",
        "0",
        "1.0",
        "1e3",
        "+1",
        "0x1",
        "%201",
        "1%20OR%201=1",
        "1;DELETE%20FROM%20alunos",
        "%00",
        "%FF",
        "١",
        "9223372036854775808",
        "99999999999999999999999999999999999999",
    ],
)
async def test_hostile_ids_are_400_on_every_id_route(
    client: httpx.AsyncClient, raw_id: str
) -> None:
    await client.post("/alunos", json=ANA)
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(method, f"/alunos/{raw_id}", json={"nome": "X"})
        assert response.status_code == 400, (method, raw_id, response.text)
        assert "id inválido" in response.json()["erro"]
    assert (await client.get("/alunos")).json()[0]["nome"] == ANA["nome"]


async def test_largest_bigint_id_is_a_plain_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/alunos/9223372036854775807")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "raw_cpf", ["1", "abc", "123456789012", "%27%20OR%20%271%27=%271", "1234567890%00", "%20" * 11]
)
async def test_hostile_cpfs_are_400(client: httpx.AsyncClient, raw_cpf: str) -> None:
    await client.post("/alunos", json=ANA)
    response = await client.get(f"/alunos/cpf/{raw_cpf}")
    assert response.status_code == 400
    assert "cpf inválido" in response.json()["erro"]


async def test_leading_zeros_address_the_same_student(client: httpx.AsyncClient) -> None:
    created = (await client.post("/alunos", json=ANA)).json()
    response = await client.get(f"/alunos/000{created['ID']}")
    assert response.json() == created


_segment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/?#"), min_size=1, max_size=40
)


@given(raw=_segment)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
async def test_any_id_segment_is_4xx_or_exactly_that_student(
    client: httpx.AsyncClient, raw: str
) -> None:
    if raw in {".", ".."}:
        return  # not a segment: clients normalise these away
    response = await client.get("/alunos/" + quote(raw, safe=""))
    assert response.status_code < 500
    if response.status_code == 200:
        assert str(response.json()["ID"]) == raw.lstrip("0")


_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["nome", "rg", "cpf", "ID", "x"]), children, max_size=4)
    ),
    max_leaves=12,
)


@given(body=_json_value)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
async def test_any_json_body_is_200_or_400_never_5xx(client: httpx.AsyncClient, body: Any) -> None:
    for method, path in (("POST", "/alunos"), ("PATCH", "/alunos/1")):
        response = await client.request(method, path, content=json.dumps(body))
        assert response.status_code in {200, 400, 404}, (method, body, response.text)
        if response.status_code == 200:
            stored = response.json()
            for field in ("nome", "rg", "cpf"):
                assert isinstance(stored[field], str)
