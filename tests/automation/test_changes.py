from automation.changes import Change, ChangeSet, Operation, urn_name, urn_type

COMPONENT_CHILD = (
    "urn:pulumi:dev::alunos-api::alunos-api:infra:Service$aws:ecs/service:Service::api-service"
)


def test_urn_type_is_the_resource_own_type_not_its_parents():
    assert urn_type(COMPONENT_CHILD) == "aws:ecs/service:Service"


def test_urn_name_keeps_double_colons_inside_the_name():
    assert urn_name("urn:pulumi:dev::proj::aws:s3/bucket:Bucket::a::b") == "a::b"


def test_counts_cover_every_operation_and_changing_skips_same():
    changes = [
        Change("u1", "t", "a", Operation.CREATE),
        Change("u2", "t", "b", Operation.CREATE),
        Change("u3", "t", "c", Operation.SAME),
        Change("u4", "t", "d", Operation.REPLACE),
    ]
    change_set = ChangeSet(stack="dev", changes=changes)
    counts = change_set.counts()
    assert counts[Operation.CREATE] == 2
    assert counts[Operation.DELETE] == 0
    assert set(counts) == set(Operation)
    assert [c.name for c in change_set.changing()] == ["a", "b", "d"]
