"""The contract the Go service's clients rely on, route by route, against a real PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime

import httpx
import psycopg
import pytest

from app.config import Database

pytestmark = pytest.mark.anyio

ANA = {"nome": "Ana Souza", "rg": "123456789", "cpf": "12345678901"}
BRUNO = {"nome": "Bruno Lima", "rg": "987654321", "cpf": "10987654321"}
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")
NOT_FOUND = {"Not Found": "Aluno não encontrado"}


async def create(client: httpx.AsyncClient, body: dict[str, str]) -> dict[str, object]:
    response = await client.post("/alunos", json=body)
    assert response.status_code == 200, response.text
    created: dict[str, object] = response.json()
    return created


async def test_greeting_uses_the_name_from_the_path(client: httpx.AsyncClient) -> None:
    response = await client.get("/Jo%C3%A3o")
    assert response.status_code == 200
    assert response.json() == {"API diz": "E ai João, Tudo beleza?"}


async def test_created_student_has_the_gorm_json_shape(client: httpx.AsyncClient) -> None:
    student = await create(client, ANA)
    assert list(student) == ["ID", "CreatedAt", "UpdatedAt", "DeletedAt", "nome", "rg", "cpf"]
    assert isinstance(student["ID"], int)
    assert student["ID"] >= 1
    assert student["DeletedAt"] is None
    assert {k: student[k] for k in ANA} == ANA
    for key in ("CreatedAt", "UpdatedAt"):
        stamp = student[key]
        assert isinstance(stamp, str)
        assert RFC3339.fullmatch(stamp), stamp
        datetime.fromisoformat(stamp)  # parses as a real instant


async def test_list_returns_every_student_in_creation_order(client: httpx.AsyncClient) -> None:
    assert (await client.get("/alunos")).json() == []
    first = await create(client, ANA)
    second = await create(client, BRUNO)
    response = await client.get("/alunos")
    assert response.status_code == 200
    assert response.json() == [first, second]


async def test_get_by_id(client: httpx.AsyncClient) -> None:
    student = await create(client, ANA)
    response = await client.get(f"/alunos/{student['ID']}")
    assert response.status_code == 200
    assert response.json() == student


async def test_get_missing_id_is_404_with_the_go_message(client: httpx.AsyncClient) -> None:
    response = await client.get("/alunos/424242")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


async def test_get_by_cpf(client: httpx.AsyncClient) -> None:
    await create(client, ANA)
    bruno = await create(client, BRUNO)
    response = await client.get(f"/alunos/cpf/{BRUNO['cpf']}")
    assert response.status_code == 200
    assert response.json() == bruno
    missing = await client.get("/alunos/cpf/00000000000")
    assert missing.status_code == 404
    assert missing.json() == NOT_FOUND


async def test_patch_changes_only_the_fields_sent(client: httpx.AsyncClient) -> None:
    student = await create(client, ANA)
    response = await client.patch(f"/alunos/{student['ID']}", json={"nome": "Ana S. Lima"})
    assert response.status_code == 200
    updated = response.json()
    assert updated["nome"] == "Ana S. Lima"
    assert (updated["rg"], updated["cpf"]) == (ANA["rg"], ANA["cpf"])
    assert updated["ID"] == student["ID"]
    assert updated["CreatedAt"] == student["CreatedAt"]
    assert updated["UpdatedAt"] >= student["UpdatedAt"]
    assert (await client.get(f"/alunos/{student['ID']}")).json() == updated


async def test_patch_validates_like_post_and_changes_nothing_on_error(
    client: httpx.AsyncClient,
) -> None:
    student = await create(client, ANA)
    response = await client.patch(f"/alunos/{student['ID']}", json={"nome": "Ok", "rg": "12"})
    assert response.status_code == 400
    assert "rg" in response.json()["erro"]
    assert (await client.get(f"/alunos/{student['ID']}")).json() == student


async def test_patch_missing_student_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch("/alunos/99", json={"nome": "Ninguém"})
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


async def test_delete_is_soft(client: httpx.AsyncClient, api_database: Database) -> None:
    ana = await create(client, ANA)
    bruno = await create(client, BRUNO)
    response = await client.delete(f"/alunos/{ana['ID']}")
    assert response.status_code == 200
    assert response.json() == {"data": "Aluno deletado com sucesso"}

    assert (await client.get(f"/alunos/{ana['ID']}")).status_code == 404
    assert (await client.get(f"/alunos/cpf/{ANA['cpf']}")).status_code == 404
    assert (await client.get("/alunos")).json() == [bruno]
    assert "Ana Souza" not in (await client.get("/index")).text
    patch = await client.patch(f"/alunos/{ana['ID']}", json={"nome": "De volta"})
    assert patch.status_code == 404

    # The row is still there, stamped, untouched otherwise: GORM's soft delete.
    with psycopg.connect(api_database.conninfo) as conn:
        row = conn.execute(
            "SELECT nome, deleted_at FROM alunos WHERE id = %s", (ana["ID"],)
        ).fetchone()
    assert row is not None
    assert row[0] == "Ana Souza"
    assert row[1] is not None


async def test_delete_twice_or_missing_answers_200_like_the_go_service(
    client: httpx.AsyncClient,
) -> None:
    ana = await create(client, ANA)
    assert (await client.delete(f"/alunos/{ana['ID']}")).status_code == 200
    assert (await client.delete(f"/alunos/{ana['ID']}")).status_code == 200
    assert (await client.delete("/alunos/777")).status_code == 200


async def test_cpf_lookup_skips_deleted_and_finds_the_live_duplicate(
    client: httpx.AsyncClient,
) -> None:
    first = await create(client, ANA)
    second = await create(client, {**ANA, "nome": "Ana Segunda"})
    assert (await client.get(f"/alunos/cpf/{ANA['cpf']}")).json() == first
    await client.delete(f"/alunos/{first['ID']}")
    assert (await client.get(f"/alunos/cpf/{ANA['cpf']}")).json() == second


async def test_index_lists_students_with_their_data_escaped(client: httpx.AsyncClient) -> None:
    await create(client, {**ANA, "nome": "<script>alert('x')</script> & \"Co\""})
    await create(client, BRUNO)
    response = await client.get("/index")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;Co&quot;" in page
    assert "Bruno Lima" in page
    assert BRUNO["cpf"] in page


async def test_index_without_students(client: httpx.AsyncClient) -> None:
    response = await client.get("/index")
    assert response.status_code == 200
    assert "Nenhum aluno" in response.text


@pytest.mark.parametrize("path", ["/a/b", "/alunos/1/notas", "/alunos/cpf/1/x", "/x/y/z"])
async def test_unknown_routes_get_the_404_page(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Página não encontrada" in response.text


@pytest.mark.parametrize("path", ["/health", "/version", "/index", "/alunos"])
async def test_named_routes_win_over_the_greeting(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert "API diz" not in response.text


async def test_wrong_method_on_a_known_path_is_405_json(client: httpx.AsyncClient) -> None:
    response = await client.put("/alunos/1", json=ANA)
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "PATCH", "DELETE"}
    assert "PUT" in response.json()["erro"]
    assert (await client.post("/health")).status_code == 405


async def test_trailing_slash_redirects(client: httpx.AsyncClient) -> None:
    response = await client.get("/alunos/")
    assert response.status_code == 307
    assert response.headers["location"].endswith("/alunos")


async def test_health_is_cheap_liveness(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_version_reports_the_build(client: httpx.AsyncClient) -> None:
    response = await client.get("/version")
    assert response.status_code == 200
    assert response.json() == {
        "version": "1.4.2",
        "revision": "0123456789abcdef",
        "created": "2025-01-31T12:00:00Z",
    }


async def test_request_id_is_honoured_or_made(client: httpx.AsyncClient) -> None:
    mine = await client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123"
    trace = "Root=1-67891233-abcdef012345678912345678"
    alb = await client.get("/health", headers={"X-Amzn-Trace-Id": trace})
    assert alb.headers["x-request-id"] == trace
    made = await client.get("/health", headers={"X-Request-Id": "bad id\twith spaces"})
    again = await client.get("/health")
    for response in (made, again):
        assert re.fullmatch(r"[0-9a-f]{32,}", response.headers["x-request-id"])
    assert made.headers["x-request-id"] != again.headers["x-request-id"]


async def test_legacy_rows_with_nulls_render_like_go(
    client: httpx.AsyncClient, api_database: Database
) -> None:
    """Rows written by other tools (NULL columns) read as Go's zero values, not as errors."""
    with psycopg.connect(api_database.conninfo) as conn:
        row = conn.execute("INSERT INTO alunos DEFAULT VALUES RETURNING id").fetchone()
    assert row is not None
    response = await client.get(f"/alunos/{row[0]}")
    assert response.status_code == 200
    assert response.json() == {
        "ID": row[0],
        "CreatedAt": "0001-01-01T00:00:00Z",
        "UpdatedAt": "0001-01-01T00:00:00Z",
        "DeletedAt": None,
        "nome": "",
        "rg": "",
        "cpf": "",
    }
