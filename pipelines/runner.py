"""Choosing the Beam runner without ever touching the network.

Beam 2.77's default DirectRunner first tries to download the Prism runner binary. A
security tool must never phone home, so loggvern runs the in-process FnApiRunner unless
the user names another runner (`--runner`), which is then passed through to Beam with
the user's runner options.

`workers` is the number of worker processes on this machine. One means everything in
this process, with `THREADS` bundle threads (pyarrow, numpy and Parquet release the GIL,
so two threads still help). More than one is the FnApiRunner's `multi_processing` mode:
that many Beam SDK worker subprocesses, driven over gRPC on localhost and started
through `pipelines.worker_main`. Each worker loads the store's secrets itself in its
DoFns' `setup()`, since the pipeline graph carries none.
"""

from __future__ import annotations

import shlex
import sys

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions
from apache_beam.portability import python_urns
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

THREADS = 2  # bundle threads of the single in-process worker
WORKER_COMMAND = f"{shlex.quote(sys.executable)} -m pipelines.worker_main"


def running_mode(workers: int) -> tuple[str, int]:
    """FnApiRunner (`direct_running_mode`, `direct_num_workers`) for `workers` processes."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, not {workers}")
    if workers == 1:
        return "multi_threading", THREADS
    return "multi_processing", workers


class LocalRunner(FnApiRunner):
    """The FnApiRunner, with its worker subprocesses started by `WORKER_COMMAND` instead
    of Beam's bare `python -m apache_beam.runners.worker.sdk_worker_main`."""

    def run_via_runner_api(self, pipeline_proto, options):  # type: ignore[no-untyped-def]
        for environment in pipeline_proto.components.environments.values():
            if environment.urn == python_urns.SUBPROCESS_SDK:
                environment.payload = WORKER_COMMAND.encode()
        return super().run_via_runner_api(pipeline_proto, options)


def make_pipeline(
    runner: str | None = None, workers: int = 1, extra_args: list[str] | None = None
) -> beam.Pipeline:
    args = list(extra_args or [])
    if runner:
        return beam.Pipeline(options=PipelineOptions([f"--runner={runner}", *args]))
    options = PipelineOptions(args)
    direct = options.view_as(DirectOptions)
    direct.direct_running_mode, direct.direct_num_workers = running_mode(workers)
    return beam.Pipeline(runner=LocalRunner(), options=options)
