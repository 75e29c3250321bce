"""The Batch API lane: tool-less jobs answered as lines of Batch API input files, at about half the price.

``input_files`` builds the files, ``driver.BatchLane`` submits and follows them (crash-safe: every id is
committed before the next request), ``collector.LineRecorder`` records each answer into the job's records
like any other attempt's.
"""

from batchrunner.batch_lane.collector import LineRecorder
from batchrunner.batch_lane.driver import SUBMISSION_KEY, BatchLane, BatchLaneConfig

__all__ = ["SUBMISSION_KEY", "BatchLane", "BatchLaneConfig", "LineRecorder"]
