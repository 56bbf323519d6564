"""Choosing the Beam runner without ever touching the network.

Beam 2.77's default DirectRunner first tries to download the Prism runner binary. A
security tool must never phone home, so loggvern runs the in-process FnApiRunner unless
the user names another runner (`--runner`), which is then passed through to Beam.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner


def make_pipeline(
    runner: str | None = None, workers: int = 1, extra_args: list[str] | None = None
) -> beam.Pipeline:
    args = list(extra_args or [])
    if runner:
        return beam.Pipeline(options=PipelineOptions([f"--runner={runner}", *args]))
    options = PipelineOptions(args)
    direct = options.view_as(DirectOptions)
    direct.direct_num_workers = max(1, workers)
    # Threads, not processes: the heavy steps (pyarrow compute, numpy, Parquet) release
    # the GIL, and worker processes would each pay Beam's start-up again.
    direct.direct_running_mode = "multi_threading" if workers > 1 else "in_memory"
    return beam.Pipeline(runner=FnApiRunner(), options=options)
