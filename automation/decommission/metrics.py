"""The CloudWatch numbers the traffic gate judges by, read over a window of complete data.

How the metrics are published decides how they are read:
- EC2 basic monitoring publishes `NetworkIn` once per 5 minutes, each point covering the 5
  minutes after its timestamp, and some minutes after that period ends. A sliding window of the
  last 300 s almost never holds a complete point; so the window is whole 5-minute periods that
  ended `LAG_SECONDS` ago, and every one of them must have its point before it is judged.
- Load balancers publish `RequestCount` every 60 s, but only while requests flow: once traffic has
  truly left there is no point at all. A balancer that exists (the caller has just described it)
  with no point in the window served no request: missing points count as 0. The same lag keeps a
  minute whose points are not published yet from reading as a quiet one.
Sources: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-cloudwatch-new.html (basic
monitoring: 5-minute periods), .../UserGuide/viewing_metrics_with_cloudwatch.html (a point covers
the 5 minutes after its timestamp), https://docs.aws.amazon.com/elasticloadbalancing/latest/
application/load-balancer-cloudwatch-metrics.html and .../classic/elb-cloudwatch-metrics.html
(reported only while requests flow). AWS's pages state no delay; Datadog's
(https://docs.datadoghq.com/integrations/guide/cloud-metric-delay/) gives 5-10 minutes for
5-minute CloudWatch metrics, which `LAG_SECONDS` covers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

PERIOD_SECONDS = 300
"""EC2 basic monitoring's period; load balancers' 1-minute points add up within it."""
LAG_SECONDS = 600
"""How long after a period ends its points are taken as all published."""
MAX_DATAPOINTS = 1440
"""The most data points one GetMetricStatistics call returns."""

Dimensions = list[dict[str, str]]


def _floor(moment: datetime, seconds: int) -> datetime:
    stamp = moment.timestamp()
    return datetime.fromtimestamp(stamp - stamp % seconds, UTC)


def _ceil(moment: datetime, seconds: int) -> datetime:
    floor = _floor(moment, seconds)
    return floor if floor == moment else floor + timedelta(seconds=seconds)


def clock_time(moment: datetime, now: datetime) -> str:
    """`HH:MMZ` (with the date when it is not `now`'s), rounded up to the minute: a time to run
    again after."""
    moment = _ceil(moment, 60)
    return f"{moment:%H:%M}Z" if moment.date() == now.date() else f"{moment:%Y-%m-%d %H:%M}Z"


@dataclass(frozen=True, slots=True)
class Window:
    """Whole periods of complete data: `count` periods of `period` seconds ending at `end`."""

    end: datetime
    period: int
    count: int

    @classmethod
    def of(cls, seconds: float, now: datetime) -> Window:
        """The last `seconds` (rounded up to whole periods) whose data is complete at `now`."""
        period = PERIOD_SECONDS * math.ceil(math.ceil(seconds / PERIOD_SECONDS) / MAX_DATAPOINTS)
        end = _floor(now - timedelta(seconds=LAG_SECONDS), PERIOD_SECONDS)
        return cls(end, period, math.ceil(seconds / period))

    @property
    def start(self) -> datetime:
        return self.end - timedelta(seconds=self.period * self.count)

    @property
    def next_complete(self) -> datetime:
        """When the next period's data is complete: when the window moves on."""
        return self.end + timedelta(seconds=PERIOD_SECONDS + LAG_SECONDS)

    def ready_for(self, not_before: datetime) -> datetime:
        """The first moment the window lies wholly after `not_before`."""
        span = timedelta(seconds=self.period * self.count)
        return _ceil(not_before + span, PERIOD_SECONDS) + timedelta(seconds=LAG_SECONDS)

    def describe(self) -> str:
        day = "" if self.start.date() == self.end.date() else f"{self.start:%Y-%m-%d} "
        return f"{day}{self.start:%H:%M}–{self.end:%H:%M}Z"


@dataclass(frozen=True, slots=True)
class Reading:
    total: float
    periods: int
    """How many of the window's periods have a data point."""


def read_sum(
    cloudwatch: Any, namespace: str, metric: str, dimensions: Dimensions, window: Window
) -> Reading:
    points: Sequence[dict[str, Any]] = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=dimensions,
        StartTime=window.start,
        EndTime=window.end,
        Period=window.period,
        Statistics=["Sum"],
    )["Datapoints"]
    covered = {
        int((point["Timestamp"] - window.start).total_seconds()) // window.period
        for point in points
    }
    return Reading(
        sum(float(point["Sum"]) for point in points),
        len(covered & set(range(window.count))),
    )
