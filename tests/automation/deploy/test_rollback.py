import pytest

from automation.deploy.rollback import (
    choose_target,
    deployed_versions,
    history_entries,
    image_digest,
)
from automation.errors import AutomationError, UsageProblem
from tests.automation.conftest import make_repository, push_image
from tests.automation.fakes import PROJECT, FakeStack, deployed, key


def history(*versions, rollbacks=()):
    """Oldest first in the arguments, newest first in the result, as the backend returns it."""
    entries = [
        deployed(
            v,
            update=n,
            extra={key("rollbackImage"): "repo@sha256:x"} if n in rollbacks else None,
        )
        for n, v in enumerate(versions, start=1)
    ]
    return deployed_versions(list(reversed(entries)), PROJECT)


def test_default_target_is_the_version_before_the_current_one():
    target = choose_target(history("1.4.1", "1.4.2", "1.4.3"), current=None, to=None)
    assert target.version == "1.4.2"
    assert target.image_tag == "1.4.2"
    assert target.update == 2


def test_a_rollback_after_a_rollback_keeps_going_back():
    # 1.4.3 was bad: rolled back to 1.4.2 (update 4). Then 1.4.2 turns out bad too.
    target = choose_target(
        history("1.4.1", "1.4.2", "1.4.3", "1.4.2", rollbacks={4}), current=None, to=None
    )
    assert target.version == "1.4.1"


def test_redeploys_of_the_same_version_are_skipped():
    target = choose_target(history("1.0.0", "1.1.0", "1.1.0", "1.1.0"), current=None, to=None)
    assert target.version == "1.0.0"


def test_a_version_that_never_succeeded_rolls_back_to_what_runs():
    """`up --rollback-on-failure` when the update itself failed: the live version is the target."""
    target = choose_target(history("1.0.0", "1.1.0"), current="1.2.0", to=None)
    assert target.version == "1.1.0"


def test_to_picks_that_version():
    target = choose_target(history("1.0.0", "1.1.0", "1.2.0"), current=None, to="1.0.0")
    assert target.version == "1.0.0"
    assert target.revision == f"{1:040x}"


def test_an_unknown_version_is_a_usage_problem_listing_known_ones():
    with pytest.raises(UsageProblem, match=r"--to 9\.9\.9.*1\.2\.0, 1\.1\.0, 1\.0\.0"):
        choose_target(history("1.0.0", "1.1.0", "1.2.0"), current=None, to="9.9.9")


def test_a_first_deployment_has_nothing_to_roll_back_to():
    with pytest.raises(AutomationError, match="nothing to roll back to"):
        choose_target(history("1.0.0"), current=None, to=None)
    with pytest.raises(AutomationError, match="nothing to roll back to"):
        choose_target([], current=None, to=None)
    # `up --rollback-on-failure` plans before the first deploy: the history is empty.
    with pytest.raises(AutomationError, match=r"no version was deployed before 1\.0\.0: nothing"):
        choose_target([], current="1.0.0", to=None)


def test_failed_updates_refreshes_and_unstamped_updates_are_not_candidates():
    entries = [
        deployed("2.0.0", update=5, result="failed"),
        deployed("1.9.0", update=4, kind="refresh"),
        deployed("1.8.0", update=3),
        deployed("", update=2),  # an update run by hand, without the automation's stamps
        deployed("1.7.0", update=1),
    ]
    assert [d.version for d in deployed_versions(entries, PROJECT)] == ["1.8.0", "1.7.0"]


def test_history_is_read_page_by_page_until_it_ends():
    stack = FakeStack(entries=[deployed(f"1.0.{n}", update=n) for n in range(250, 0, -1)])
    target = choose_target(
        deployed_versions(history_entries(stack), PROJECT), current=None, to="1.0.3"
    )
    assert target.update == 3
    assert stack.history_pages == [(100, 1), (100, 2), (100, 3)]


def test_history_stops_after_a_short_page():
    stack = FakeStack(entries=[deployed("1.0.0", update=1)])
    assert len(list(history_entries(stack))) == 1
    assert stack.history_pages == [(100, 1)]


# --- ECR ---------------------------------------------------------------------------------------


def test_the_digest_of_a_tag_is_found(aws):
    url = make_repository(aws)
    digest = push_image(aws, url, "1.4.2")
    push_image(aws, url, "1.4.3")
    assert image_digest(aws.client("ecr"), url, "1.4.2") == digest
    assert digest.startswith("sha256:")


def test_an_expired_image_is_a_clear_error(aws):
    url = make_repository(aws)
    push_image(aws, url, "1.4.3")
    with pytest.raises(AutomationError, match=r"1\.4\.1 is no longer in ECR"):
        image_digest(aws.client("ecr"), url, "1.4.1")


def test_a_missing_repository_is_a_clear_error(aws):
    url = make_repository(aws) + "-gone"
    with pytest.raises(AutomationError, match="does not exist"):
        image_digest(aws.client("ecr"), url, "1.0.0")


def test_a_malformed_repository_url_is_a_usage_problem(aws):
    with pytest.raises(UsageProblem, match="repositoryUrl"):
        image_digest(aws.client("ecr"), "not-a-url", "1.0.0")
