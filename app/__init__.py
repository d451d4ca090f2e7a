"""The students API (alunos): the Go gin+GORM service's contract, in Python over PostgreSQL."""
