"""Entry point of the local worker processes (`--workers N`, N > 1).

Each is Beam's own SDK harness (`apache_beam.runners.worker.sdk_worker_main`), started
through here only so that its log lines travel to the runner over the Fn API logging
channel instead of the user's terminal: Beam's import warns about optional cloud
clients through the root logger, which would otherwise install a stderr handler that
then prints every gRPC connection the worker makes.
"""

from __future__ import annotations

import logging
import sys


def main() -> None:
    logging.getLogger().addHandler(logging.NullHandler())
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
