"""The two HTML pages: the students list (`/index`) and the 404 page.

Student data is typed by clients, so every value is HTML-escaped (quotes included) before it
reaches the page.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from app.students import Student

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
    "table{border-collapse:collapse}"
    "th,td{border:1px solid #ccc;padding:.4rem .8rem;text-align:left}"
    "th{background:#f3f3f3}"
)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="pt-BR">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def index_page(students: Iterable[Student]) -> str:
    rows = "\n".join(
        f"<tr><td>{s.id}</td><td>{escape(s.nome)}</td><td>{escape(s.rg)}</td>"
        f"<td>{escape(s.cpf)}</td></tr>"
        for s in students
    )
    table = (
        "<table>\n<thead><tr><th>ID</th><th>Nome</th><th>RG</th><th>CPF</th></tr></thead>\n"
        f"<tbody>\n{rows}\n</tbody>\n</table>"
        if rows
        else "<p>Nenhum aluno cadastrado.</p>"
    )
    return _page("Alunos", f"<h1>Alunos</h1>\n{table}")


def not_found_page() -> str:
    return _page(
        "Página não encontrada",
        '<h1>404</h1>\n<p>Página não encontrada.</p>\n<p><a href="/index">Ver os alunos</a></p>',
    )
