"""The benchmark harness: `python bench/run.py`.

Boundary: starts the service and a bare Sanic reference as subprocesses, drives both with wrk,
and reports requests/s and latency percentiles next to the reference. It talks to the service
over HTTP and the `python -m app` command line only; it never imports app code. Features add
scenarios in bench/scenarios/<feature>.py (see bench/README.md).
"""
