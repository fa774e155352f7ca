"""The `workshop` command: one entry point for the local AWS, the stack, generator and queries."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from botocore.exceptions import EndpointConnectionError

from workshop import config

Command = Callable[[argparse.Namespace], int]


def _local(args: argparse.Namespace) -> int:
    from workshop.local import process

    if args.action == "start":
        print(process.start())
    elif args.action == "stop":
        print(process.stop())
    else:
        print(process.status())
    return 0


def _deploy(args: argparse.Namespace) -> int:
    from workshop import stack

    params = dict(item.split("=", 1) for item in args.parameter)
    found = stack.deploy(params, on_status=print)
    print(json.dumps(found, indent=2, sort_keys=True))
    return 0


def _teardown(args: argparse.Namespace) -> int:
    from workshop import stack

    stack.teardown(on_status=print)
    return 0


def _outputs(args: argparse.Namespace) -> int:
    from workshop import stack

    print(json.dumps(stack.outputs(), indent=2, sort_keys=True))
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
    deploy.set_defaults(func=_deploy)

    teardown = sub.add_parser("teardown", help="empty the bucket and delete the stack")
    teardown.set_defaults(func=_teardown)

    outputs = sub.add_parser("outputs", help="print the stack's Outputs as JSON")
    outputs.set_defaults(func=_outputs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; known errors print one clear line and exit 1, never a traceback."""
    args = build_parser().parse_args(argv)
    handled: tuple[type[BaseException], ...] = (config.ConfigError, config.LocalModeViolation)
    try:
        from workshop.local.process import LocalAWSError
        from workshop.local.server import PortInUse
        from workshop.stack import StackError

        handled = (*handled, LocalAWSError, PortInUse, StackError)
        return args.func(args)
    except handled as error:
        print(f"workshop {args.command}: {error}", file=sys.stderr)
        return 1
    except EndpointConnectionError as error:
        hint = ("the local AWS is not running: start it with `workshop local start`"
                if config.settings().is_local else "check your network and region")
        print(f"workshop {args.command}: cannot reach {error.kwargs.get('endpoint_url')}: {hint}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
