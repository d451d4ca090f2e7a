"""The benchmarks' own arithmetic: a wrong parse would print confident, wrong figures."""

from __future__ import annotations

from bench.plan_bench import imported_sdk_modules, verdicts
from bench.suite_bench import SUMMARY

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       120 |        120 |   _io
import time:       654 |     438381 |   pulumi
import time:      2505 |     495959 | pulumi_aws.ec2.allowed_images_settings
import time:       300 |        300 |     pulumi
import time:       862 |     193773 |   pulumi_docker
import time:       100 |        100 | pulumiverse_extra
import time:        90 |         90 | automation.offline.engine
"""


def test_importtime_yields_each_sdk_module_once_in_order() -> None:
    assert imported_sdk_modules(IMPORTTIME) == [
        "pulumi",
        "pulumi_aws.ec2.allowed_images_settings",
        "pulumi_docker",
    ]


def test_verdicts_hold_each_target() -> None:
    figures = {"floor": 1.2, "plan": 1.9, "cached plan": 0.3, "report": 2.4, "help": 0.2}
    lines = verdicts(figures)
    assert lines[0].endswith("MISSED")  # 1.9 > 1.5 x 1.2 = 1.8
    assert lines[1].endswith("met")
    assert lines[2].endswith("MISSED")  # 2.4 > 1.2 x 1.9 = 2.28
    assert lines[3].endswith("met")
    assert verdicts({**figures, "floor": 2.5, "plan": 3.2})[0].endswith("MISSED")  # over 3 s


def test_versions_without_cache_or_report_are_judged_on_what_they_have() -> None:
    lines = verdicts({"floor": 1.2, "plan": 1.7, "cached plan": None, "report": None, "help": 0.2})
    assert len(lines) == 2
    assert lines[0].endswith("met")


def test_pytest_summary_is_read_with_and_without_skips() -> None:
    line = "=== 1181 passed, 1 skipped in 255.27s (0:04:15) ==="
    match = SUMMARY.search(line)
    assert match is not None
    assert (match["counts"], match["seconds"]) == ("1181 passed, 1 skipped", "255.27")
    match = SUMMARY.search("1059 passed in 98.10s")
    assert match is not None
    assert match["seconds"] == "98.10"
