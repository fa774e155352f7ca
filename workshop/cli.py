"""The `workshop` command: one entry point for the local AWS, the stack, generator and queries."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
)

from workshop import config
from workshop.errors import WorkshopError

Command = Callable[[argparse.Namespace], int]


def _number(kind: type[int] | type[float], low: float, above: bool = False) -> Callable[[str], Any]:
    """An argparse type: a number of `kind` at least `low` (or above it), else a clear refusal."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
        if value < low or (above and value == low):
            raise argparse.ArgumentTypeError(
                f"{text} is too small: use a number {'above' if above else 'of at least'} {low:g}")
        return value
    return parse


COUNT = _number(int, 0)  # how many of something: 0 or more
AT_LEAST_ONE = _number(int, 1)
SECONDS = _number(float, 0)
POSITIVE = _number(float, 0, above=True)


def _local(args: argparse.Namespace) -> int:
    from workshop import local_aws

    if args.action == "start":
        print(local_aws.start())
    elif args.action == "stop":
        print(local_aws.stop())
    else:
        print(local_aws.status())
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from workshop import show, stack

    params = {}
    for item in args.parameter:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise stack.StackError(
                f"-p {item!r} is not KEY=VALUE; e.g. -p BufferIntervalSeconds=10")
        params[key] = value
    stack.check_parameters(params)  # before anything is asked of AWS
    if args.plan:
        print(stack.plan(params))
        return 0
    with show.StackEvents() as on_status:  # one line per resource event while it waits
        found = stack.deploy(params, on_status=on_status, confirm=True if args.yes else stack.ask)
    print(json.dumps(found, indent=2, sort_keys=True))
    return 0


def _teardown(args: argparse.Namespace) -> int:
    from workshop import show, stack

    with show.StackEvents() as on_status:
        left = stack.teardown(on_status=on_status)
    return 1 if left else 0


def _outputs(args: argparse.Namespace) -> int:
    from workshop import stack

    print(json.dumps(stack.outputs(), indent=2, sort_keys=True))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from workshop import generator

    generator.generate(  # logs its own report, with timestamps
        args.count, seed=args.seed, burst=args.burst, rate=args.rate,
        interval=args.interval, update=args.update, delete=args.delete,
        progress=not args.quiet, history_minutes=args.history, per_minute=args.per_minute,
        spike=args.spike, lull=args.lull)
    return 0


def _query(args: argparse.Namespace) -> int:
    import pandas as pd

    from workshop import athena

    frame = athena.run(args.sql) if args.sql in athena.QUERIES else athena.query(args.sql)
    with pd.option_context("display.max_rows", args.max_rows, "display.width", 160):
        print(frame.to_string(index=False, max_rows=args.max_rows))
    print(athena.statistics(frame))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from workshop import demo

    result = demo.run(count=args.count, seed=args.seed, timeout=args.timeout,
                      output_dir=args.output)
    print(f"\nDemo finished in {result.seconds:.0f} s.")
    return 0


def _logs(args: argparse.Namespace) -> int:
    from workshop import logs

    printed = logs.tail(logs.since(args.since), follow=args.follow)
    if not printed and not args.follow:
        print(f"No transformer log lines in the last {args.since}; orders are transformed when "
              "Firehose's buffer is due (`workshop doctor` shows where data is).", file=sys.stderr)
    return 0


def _class(args: argparse.Namespace) -> int:
    import time

    from workshop import classroom

    s = config.settings()
    where = f"the {s.target} target" + ("" if s.is_local else f", region {s.region}")
    if args.action == "teardown":
        if not args.yes:
            print(f"workshop class teardown deletes every participant's stack and data on {where}:"
                  " pass --yes to do it.", file=sys.stderr)
            return 1
        left = classroom.teardown(on_status=print)
        for prefix, names in left.items():
            print(f"LEFT for {prefix}: {', '.join(names)}")
        print("Nothing of the class is left." if not left else
              f"{len(left)} participant(s) have something left: see above.")
        return 1 if left else 0
    while True:
        print(f"Class on {where}, {time.strftime('%H:%M:%S')}:")
        print(classroom.table(classroom.status()))
        if not args.watch:
            return 0
        time.sleep(args.watch)
        print()


def _doctor(args: argparse.Namespace) -> int:
    from workshop.doctor import diagnose

    print(diagnose())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each subcommand names the helper it calls."""
    parser = argparse.ArgumentParser(
        prog="workshop",
        description="Gadget-sales streaming workshop. Target, region and prefix come from "
        "WORKSHOP_TARGET (local|aws, default local), WORKSHOP_REGION and WORKSHOP_PREFIX.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    local = sub.add_parser("local", help="start, stop or show the local AWS (moto + runtime)")
    local.add_argument("action", choices=["start", "stop", "status"])
    local.set_defaults(func=_local)

    deploy = sub.add_parser("deploy", help="deploy cloudformation/pipeline.yaml to the target")
    deploy.add_argument("--parameter", "-p", action="append", default=[], metavar="KEY=VALUE",
                        help="override a template parameter, e.g. -p BufferIntervalSeconds=10")
    deploy.add_argument("--plan", action="store_true",
                        help="only show account, region, stack and hourly cost; change nothing")
    deploy.add_argument("--yes", action="store_true",
                        help="aws target: go ahead without asking (after reading the plan)")
    deploy.set_defaults(func=_deploy)

    teardown = sub.add_parser(
        "teardown", help="empty the buckets, delete the stack, list what is left under the prefix")
    teardown.set_defaults(func=_teardown)

    outputs = sub.add_parser("outputs", help="print the stack's Outputs as JSON")
    outputs.set_defaults(func=_outputs)

    generate = sub.add_parser("generate", help="write gadget orders into OrderTable")
    generate.add_argument("--count", type=COUNT, default=None,
                          help="how many orders (default: one every --interval s until Ctrl+C)")
    pace = generate.add_mutually_exclusive_group()
    pace.add_argument("--interval", type=SECONDS, default=3.0, help="seconds between orders")
    pace.add_argument("--rate", type=POSITIVE, default=None, help="orders per second")
    pace.add_argument("--burst", action="store_true", help="as fast as batch writes allow")
    generate.add_argument("--seed", type=int, default=None,
                          help="the same seed gives the same orders (as `workshop demo --seed`)")
    generate.add_argument("--update", type=COUNT, default=0, metavar="N",
                          help="then update N of the orders (MODIFY events)")
    generate.add_argument("--delete", type=COUNT, default=0, metavar="N",
                          help="then delete N of the orders (REMOVE events)")
    generate.add_argument("--history", type=AT_LEAST_ONE, default=None, metavar="MINUTES",
                          help="instead: a past of MINUTES minutes of sales, ending an hour ago")
    generate.add_argument("--per-minute", type=AT_LEAST_ONE, default=20, metavar="N",
                          help="orders in each minute of --history (default 20)")
    generate.add_argument("--spike", type=COUNT, default=None, metavar="MINUTE",
                          help="inject a spike (4x the orders) at this minute of --history "
                          "(0 is the oldest)")
    generate.add_argument("--lull", type=COUNT, default=None, metavar="MINUTE",
                          help="inject a lull (0.1x the orders) at this minute of --history")
    generate.add_argument("--quiet", action="store_true", help="no progress bar")
    generate.set_defaults(func=_generate)

    query = sub.add_parser("query", help="run Athena SQL (or a workshop query by name)")
    query.add_argument("sql", help="SQL text, or one of: units_per_product_today, "
                       "revenue_per_product, orders_per_minute, latest_state_per_order, ...")
    query.add_argument("--max-rows", type=AT_LEAST_ONE, default=50)
    query.set_defaults(func=_query)

    demo = sub.add_parser("demo", help="the whole pipeline locally, end to end (make demo)")
    demo.add_argument("--count", type=AT_LEAST_ONE, default=2000, help="orders to generate")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--timeout", type=POSITIVE, default=180.0,
                      help="seconds to wait for every order to reach S3")
    demo.add_argument("--output", type=Path, default=Path("output/demo"),
                      help="folder for the chart PNGs (default output/demo)")
    demo.set_defaults(func=_demo)

    logs = sub.add_parser("logs", help="the transformer's log (CloudWatch on aws, a file locally)")
    logs.add_argument("--since", default="10m", help="how far back, e.g. 30s, 10m, 2h, 1d")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    logs.set_defaults(func=_logs)

    classroom = sub.add_parser(
        "class", help="instructors: every participant's pipeline, or remove them all")
    classroom.add_argument("action", choices=["status", "teardown"])
    classroom.add_argument("--watch", type=POSITIVE, default=None, metavar="SECONDS",
                           help="status: refresh every SECONDS until Ctrl+C")
    classroom.add_argument("--yes", action="store_true",
                           help="teardown: really delete every participant's stack")
    classroom.set_defaults(func=_class)

    doctor = sub.add_parser("doctor", help="count the data at each stage; name where it stops")
    doctor.set_defaults(func=_doctor)
    return parser


def explain(error: BaseException) -> str:
    """One line for any error a command meets: the workshop's own message, or AWS's in words
    that say what to do; anything else is named as a bug to report."""
    if isinstance(error, WorkshopError):
        return str(error)
    if isinstance(error, (NoCredentialsError, ProfileNotFound)):
        return (f"{error}. The aws target uses your AWS credentials: run `aws configure` (or "
                "`aws sso login`), or set WORKSHOP_AWS_PROFILE to a profile that has them.")
    if isinstance(error, EndpointConnectionError):
        try:
            local = config.settings().is_local
        except WorkshopError:
            local = True
        hint = ("the local AWS is not running: start it with `workshop local start`" if local
                else "check your network and WORKSHOP_REGION")
        return f"cannot reach {error.kwargs.get('endpoint_url')}: {hint}"
    if isinstance(error, ClientError):
        found = error.response.get("Error", {})
        return (f"AWS answered {found.get('Code', 'an error')} to {error.operation_name}: "
                f"{found.get('Message', error)}")
    if isinstance(error, BotoCoreError):
        return f"the AWS SDK failed: {error}"
    return (f"unexpected {type(error).__name__}: {error}. This is a bug in the workshop: please "
            "report it with the command you ran (WORKSHOP_DEBUG=1 shows where it happened).")


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; every error prints one line and exits 1, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        config.debug()  # refuses a WORKSHOP_DEBUG that is neither on nor off
        return args.func(args)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    except Exception as error:
        print(f"workshop {args.command}: {explain(error)}", file=sys.stderr)
        with contextlib.suppress(WorkshopError):  # a bad WORKSHOP_DEBUG is refused elsewhere
            if config.debug():
                traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main())
