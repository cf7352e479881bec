"""The reference: a bare Sanic app in one process answering constant JSON, no middleware.

    python bench/bare_app.py --port 8100

The harness drives it exactly like the service, so each scenario's ratio to it says what the
service's own work costs on this machine, whatever the machine.
"""

from __future__ import annotations

import argparse

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

app = Sanic("bench_bare", configure_logging=False)


@app.get("/")
async def constant(request: Request) -> HTTPResponse:
    return json({"status": "ok"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    app.config.update(KEEP_ALIVE_TIMEOUT=75, MOTD=False, OAS=False)
    app.run(host=args.host, port=args.port, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
