"""The students (alunos) in PostgreSQL, with GORM's soft delete and GORM's JSON shape.

Each operation is one SQL statement, so each is atomic without an explicit transaction: a PATCH
merges the fields sent into the row inside the UPDATE itself (no read-modify-write race), a
DELETE only stamps `deleted_at`, and every read skips stamped rows, as GORM's scopes do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

# Written out in full (no string building): each is a constant, parameters go through %s.
# coalesce(): legacy rows written by other tools may hold NULLs; Go decoded those as "".
_LIST = """
    SELECT id, created_at, updated_at, deleted_at, coalesce(nome, ''), coalesce(rg, ''),
           coalesce(cpf, '')
    FROM alunos WHERE deleted_at IS NULL ORDER BY id"""
_BY_IDS = """
    SELECT id, created_at, updated_at, deleted_at, coalesce(nome, ''), coalesce(rg, ''),
           coalesce(cpf, '')
    FROM alunos WHERE id = ANY(%s::bigint[]) AND deleted_at IS NULL"""
_BY_CPF = """
    SELECT id, created_at, updated_at, deleted_at, coalesce(nome, ''), coalesce(rg, ''),
           coalesce(cpf, '')
    FROM alunos WHERE cpf = %s AND deleted_at IS NULL ORDER BY id LIMIT 1"""
_INSERT = """
    INSERT INTO alunos (created_at, updated_at, nome, rg, cpf)
    VALUES (now(), now(), %s, %s, %s)
    RETURNING id, created_at, updated_at, deleted_at, nome, rg, cpf"""
_UPDATE = """
    UPDATE alunos
    SET nome = coalesce(%s, nome), rg = coalesce(%s, rg), cpf = coalesce(%s, cpf),
        updated_at = now()
    WHERE id = %s AND deleted_at IS NULL
    RETURNING id, created_at, updated_at, deleted_at, coalesce(nome, ''), coalesce(rg, ''),
              coalesce(cpf, '')"""
_SOFT_DELETE = "UPDATE alunos SET deleted_at = now() WHERE id = %s AND deleted_at IS NULL"

# What Go's encoding/json writes for a zero time.Time.
_GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def format_time(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC the way Go's time.Time marshals (RFC3339Nano: trailing zeros dropped)."""
    if moment is None:
        return None
    # isoformat: YYYY-MM-DDTHH:MM:SS.ffffff+00:00, always that long with timespec set.
    text = moment.astimezone(UTC).isoformat(timespec="microseconds")[:26]
    return text.rstrip("0").rstrip(".") + "Z"


@dataclass(frozen=True)
class Student:
    id: int
    created_at: datetime | None
    updated_at: datetime | None
    deleted_at: datetime | None
    nome: str
    rg: str
    cpf: str

    def to_json(self) -> dict[str, Any]:
        """gorm.Model's fields keep their Go names; the others use the Go struct's json tags."""
        return {
            "ID": self.id,
            "CreatedAt": format_time(self.created_at) or _GO_ZERO_TIME,
            "UpdatedAt": format_time(self.updated_at) or _GO_ZERO_TIME,
            "DeletedAt": format_time(self.deleted_at),
            "nome": self.nome,
            "rg": self.rg,
            "cpf": self.cpf,
        }


@dataclass(frozen=True)
class StudentFields:
    """Fields of a request body, already validated; None means "not sent"."""

    nome: str | None = None
    rg: str | None = None
    cpf: str | None = None


def _student(row: tuple[Any, ...] | None) -> Student | None:
    return None if row is None else Student(*row)


class _ByIdLoader:
    """Coalesces the lookups by id made in the same event-loop turn into one query.

    The hottest route is `GET /alunos/{id}`, and a query's cost in this process is mostly fixed
    (pool checkout, send, socket wait, fetch), not per row. Under concurrent load the requests
    parsed in one loop turn share one `WHERE id = ANY(...)`; alone, a request waits for nothing
    more than one loop turn. The same snapshot semantics as one query per request: each answer
    is the row as committed when its query ran.
    """

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._waiting: dict[int, list[asyncio.Future[Student | None]]] = {}
        self._running: set[asyncio.Task[None]] = set()  # strong references until done

    async def get(self, student_id: int) -> Student | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Student | None] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._dispatch)  # runs after the tasks already ready in this turn
        self._waiting.setdefault(student_id, []).append(future)
        return await future

    def _dispatch(self) -> None:
        batch, self._waiting = self._waiting, {}
        task = asyncio.get_running_loop().create_task(self._load(batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _load(self, batch: dict[int, list[asyncio.Future[Student | None]]]) -> None:
        try:
            async with self._pool.connection() as conn:
                cursor = await conn.execute(_BY_IDS, (list(batch),))
                rows = await cursor.fetchall()
        except BaseException as error:  # not swallowed: every waiter receives it
            for futures in batch.values():
                for future in futures:
                    if future.done():
                        continue
                    if isinstance(error, Exception):
                        future.set_exception(error)
                    else:
                        future.cancel()
            if not isinstance(error, Exception):
                raise  # cancellation or exit: let it through
            return
        found = {row[0]: Student(*row) for row in rows}
        for student_id, futures in batch.items():
            for future in futures:
                if not future.done():  # a waiter cancelled meanwhile
                    future.set_result(found.get(student_id))


class StudentStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self._by_id = _ByIdLoader(pool)

    async def close(self) -> None:
        await self.pool.close()

    async def _one(self, query: str, params: tuple[Any, ...]) -> Student | None:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(query, params)  # type: ignore[arg-type]  # constant SQL
            return _student(await cursor.fetchone())

    async def list(self) -> list[Student]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_LIST)  # type: ignore[arg-type]  # constant SQL
            return [Student(*row) for row in await cursor.fetchall()]

    async def get(self, student_id: int) -> Student | None:
        return await self._by_id.get(student_id)

    async def get_by_cpf(self, cpf: str) -> Student | None:
        return await self._one(_BY_CPF, (cpf,))

    async def create(self, new: StudentFields) -> Student:
        if new.nome is None or new.rg is None or new.cpf is None:
            raise ValueError("a new student needs nome, rg and cpf")
        student = await self._one(_INSERT, (new.nome, new.rg, new.cpf))
        assert student is not None  # INSERT ... RETURNING always returns the row
        return student

    async def update(self, student_id: int, changes: StudentFields) -> Student | None:
        """Apply the fields sent; None when no live student has this id."""
        return await self._one(_UPDATE, (changes.nome, changes.rg, changes.cpf, student_id))

    async def soft_delete(self, student_id: int) -> bool:
        """Stamp `deleted_at`; False when no live student has this id."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_SOFT_DELETE, (student_id,))
            return cursor.rowcount == 1
