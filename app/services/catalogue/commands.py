"""Catalogue commands: `python -m app seed-demo [--scale N]`."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    seed = subparsers.add_parser("seed-demo", help="store the Guangdong demo catalogue (idempotent)")
    seed.add_argument("--scale", type=int, help="exactly this many service items (default: the full base, ~11,400)")
    seed.add_argument("--seed", type=int, help="random seed for the generated details")
    seed.set_defaults(func=cmd_seed_demo)


def _progress_bar(stage: str, done: int, total: int) -> None:
    width = 30
    filled = width if total == 0 else int(width * done / total)
    end = "\n" if done >= total else ""
    sys.stderr.write(f"\r{stage:<18} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{end}")
    sys.stderr.flush()


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from app.cli import _with_orm
    from app.config import load_settings

    settings = load_settings()

    async def work() -> int:
        from app.adapters.clock import SystemClock
        from app.services.catalogue.demo_data import DEFAULT_SEED
        from app.services.catalogue.search_sync import bump_version
        from app.services.catalogue.seeding import seed_demo

        counts = await seed_demo(
            clock=SystemClock(),
            scale=args.scale,
            seed=args.seed if args.seed is not None else DEFAULT_SEED,
            progress=_progress_bar,
        )
        # The version lives in the database, so every running server on it (any worker, with
        # or without Redis) picks the new catalogue up at its next poll, within about a second.
        await bump_version()
        print("created " + ", ".join(f"{count} {name}" for name, count in counts.items()))
        return 0

    return int(_with_orm(settings, work))
