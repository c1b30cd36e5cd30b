"""The `airflow-ecs-wizard` command: headless commands here, the TUI imported only when asked.

Exit status: 0 done, 1 a step failed (state saved, resumable), 2 bad input (nothing changed).
Heavy modules (boto3, cfn-lint, textual) are imported inside the commands that need them, so
`render` starts about as fast as Jinja2 and pydantic import.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from wizard import __version__
from wizard.errors import (
    BadInput,
    Problem,
    ProblemsError,
    WizardError,
    as_wizard_error,
    quoted,
)

if TYPE_CHECKING:
    from wizard.config import LaunchConfig

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

Command = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as bad input (exit 2) in the project's words."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise BadInput(f"{self.prog}: {message}", title="Bad arguments", hint="See --help.")


WIZARD_SWITCHES = {
    "--sandbox": "run against an embedded AWS emulator seeded with a sample account "
    "(no AWS account)",
    "--dry-run": "walk every step and preview; change nothing",
}
WIZARD_PATHS = {
    "--state": "resume the launch of this state file",
    "--config": "open this launch.toml",
    "--folder": "where launches are kept (default: the user data folder)",
}
"""The full-screen wizard's flags (with no COMMAND) and their help: the parser's group and the
check below both read these."""


def only_wizard_flags(args: Sequence[str]) -> bool:
    """Whether the arguments are only the full-screen wizard's own flags (no COMMAND, no
    --help): then the subcommands' parsers need not be built before the first frame."""
    values = iter(args)
    for arg in values:
        if arg in WIZARD_PATHS:
            next(values, None)
        elif arg not in (*WIZARD_SWITCHES, "--debug") and arg.split("=", 1)[0] not in WIZARD_PATHS:
            return False
    return True


def build_parser(*, commands: bool = True) -> argparse.ArgumentParser:
    """The whole command line, one subcommand per headless action (`commands=False`: only the
    wizard's flags, which parse the same)."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    aws = _Parser(add_help=False, parents=[common])
    group = aws.add_argument_group("AWS (override the config's [aws] table)")
    group.add_argument("--profile", help="named profile from ~/.aws/config")
    group.add_argument("--region", help="AWS region, e.g. us-east-1")
    group.add_argument("--endpoint-url", help="an emulator or a VPC endpoint instead of AWS")

    parser = _Parser(
        prog="airflow-ecs-wizard",
        description="Launch Apache Airflow on Amazon ECS: a guided, safe, resumable runbook.",
        epilog="Exit status: 0 done, 1 a step failed (state saved), 2 bad input (nothing changed).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    tui = parser.add_argument_group("the wizard (with no COMMAND)")
    for flag, help_text in WIZARD_SWITCHES.items():
        tui.add_argument(flag, action="store_true", help=help_text)
    for flag, help_text in WIZARD_PATHS.items():
        tui.add_argument(flag, type=Path, help=help_text)
    parser.set_defaults(handler=_wizard)
    if not commands:
        return parser
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    render = subparsers.add_parser(
        "render",
        parents=[aws],
        help="write every artifact for a config (no AWS calls)",
        description="Render bootstrap.sh, user-data.sh, cluster.cfn.json, database.sql, one "
        "taskdef-COMPONENT.json per component and manifest.json into DIR. Makes no AWS call.",
    )
    render.add_argument("--config", required=True, type=Path, help="the launch.toml")
    render.add_argument("--out", required=True, type=Path, help="the folder to write into")
    render.add_argument(
        "--lint", action="store_true", help="also run botocore, cfn-lint and shellcheck"
    )
    render.add_argument("--account-id", default="", help="the account, if the config can't say")
    render.set_defaults(handler=_render)

    validate = subparsers.add_parser(
        "validate",
        parents=[aws],
        help="check a config offline, with every linter",
        description="Load the config, render every artifact in memory and check them with "
        "the cross-artifact checks, botocore, cfn-lint and shellcheck. Writes nothing.",
    )
    validate.add_argument("--config", required=True, type=Path, help="the launch.toml")
    validate.add_argument("--account-id", default="", help="the account, if the config can't say")
    validate.set_defaults(handler=_validate)

    patch = subparsers.add_parser(
        "patch-template",
        parents=[aws],
        help="patch a console-made ECS cluster template the way the runbook does",
        description="Turn off public IPs for the instances and make the user data join the "
        "cluster, install the AWS CLI, copy the bootstrap file from S3 and run it. Everything "
        "else is left as it was; patching a patched template changes nothing.",
    )
    patch.add_argument("template", metavar="IN", help="the template (JSON or YAML), or - for stdin")
    patch.add_argument("--cluster", required=True, help="the ECS cluster name")
    patch.add_argument(
        "--bootstrap-uri",
        required=True,
        help="s3://BUCKET/PREFIX/ENV/bootstrap/bootstrap.sh",
    )
    patch.add_argument("--out", type=Path, help="write the patched template here (default: stdout)")
    patch.add_argument("--diff", action="store_true", help="print a unified diff of the change")
    patch.set_defaults(handler=_patch_template)

    plan = subparsers.add_parser(
        "plan",
        parents=[aws],
        help="show what apply would create or change (read-only AWS calls)",
        description="Plan every step against the account: what each would create, update or "
        "leave alone, with diffs against what exists. Only read calls are made.",
    )
    plan.add_argument("--config", required=True, type=Path, help="the launch.toml")
    plan.add_argument("--state", type=Path, help="the launch's state file, if it has one")
    plan.set_defaults(handler=_launch_command("plan_command"))

    apply = subparsers.add_parser(
        "apply",
        parents=[aws],
        help="apply the launch, resuming where an earlier run stopped",
        description="Apply every step, independent ones in parallel, recording progress in "
        "the state file; run it again to resume after any interruption.",
    )
    apply.add_argument("--config", required=True, type=Path, help="the launch.toml")
    apply.add_argument("--state", required=True, type=Path, help="the launch's state file")
    apply.add_argument("--yes", action="store_true", help="apply without asking")
    apply.add_argument("--only", nargs="+", metavar="STEP", help="apply just these steps")
    apply.add_argument(
        "--dry-run", action="store_true", help="walk every step and preview; change nothing"
    )
    apply.set_defaults(handler=_launch_command("apply_command"))

    status = subparsers.add_parser(
        "status",
        parents=[common],
        help="show a launch's progress from its state file (no AWS call)",
    )
    status.add_argument("--state", required=True, type=Path, help="the launch's state file")
    status.add_argument("--json", action="store_true", help="the whole state as JSON")
    status.set_defaults(handler=_status)

    destroy = subparsers.add_parser(
        "destroy",
        parents=[aws],
        help="remove what this launch created, newest first",
        description="Delete the resources the state records as created by this launch, "
        "newest first. Adopted resources are never touched; the database, the bucket and its "
        "contents, the secrets and the repository stay unless --delete-data.",
    )
    destroy.add_argument("--state", required=True, type=Path, help="the launch's state file")
    destroy.add_argument("--yes", action="store_true", help="delete without asking")
    destroy.add_argument("--delete-data", action="store_true", help="delete the data too")
    destroy.set_defaults(handler=_destroy)

    init = subparsers.add_parser(
        "init",
        parents=[aws],
        help="write a launch.toml by answering questions (--plain: no full-screen UI)",
        description="Ask each step's questions (choices from the account where AWS answers), "
        "show each preview, and write launch.toml after you confirm. --plain uses simple "
        "prompts instead of the full-screen wizard.",
    )
    init.add_argument("--plain", action="store_true", help="simple prompts, no full-screen UI")
    init.add_argument("--config", type=Path, default=Path("launch.toml"), help="the file to write")
    init.add_argument(
        "--from",
        dest="start_from",
        type=Path,
        help="start from this config (default: the documented example)",
    )
    init.set_defaults(handler=_init)

    rehearse = subparsers.add_parser(
        "rehearse",
        parents=[aws],
        help="boot the launch's task definitions on this machine and run a DAG",
        description="Run the launch's own rendered task definitions here, as ECS would run "
        "them, against a local PostgreSQL, Redis and S3 emulator: the migrate task, every "
        "service with its own health check, an Admin login, a DAG run on the Celery worker "
        "and its remote log. Secret values are made for the rehearsal; the only rewrites are "
        "what ECS and AWS provide (ports, mounts, Service Connect, hostname, endpoints), each "
        "listed. Exit status 0 only when every row holds.",
    )
    rehearse.add_argument("--config", required=True, type=Path, help="the launch.toml")
    rehearse.add_argument("--state", type=Path, help="the launch's state file (its account)")
    rehearse.add_argument(
        "--runtime",
        choices=["docker", "venv"],
        help="docker: the launch's image; venv: Airflow from PyPI (default: docker where a "
        "Docker engine answers, else venv)",
    )
    rehearse.add_argument("--image", help="docker: run this image instead of the launch's")
    rehearse.add_argument("--dag", type=Path, help="a DAG file to run (default: a sample DAG)")
    rehearse.add_argument(
        "--keep-running", action="store_true", help="leave it up (Ctrl+C stops it)"
    )
    rehearse.add_argument("--json", action="store_true", help="the table as JSON on stdout")
    rehearse.set_defaults(handler=_rehearse)

    sandbox = subparsers.add_parser(
        "sandbox",
        help="run an AWS emulator seeded with a sample account, to try the wizard",
        description="Start the AWS emulator (moto) on a free loopback port, seed it with a "
        "believable account (VPC, subnets, the RDS instance staging-rds, the ECR repository "
        "zdp-airflow) and write a launch.toml for it. Runs until Ctrl-C.",
    )
    sandbox.add_argument(
        "--folder",
        type=Path,
        help="where its account, config, state and log are kept (default: the user data folder)",
    )
    sandbox.set_defaults(handler=_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    try:
        args = build_parser(commands=not only_wizard_flags(args_list)).parse_args(args_list)
        handler: Command = args.handler
        return handler(args)
    except WizardError as error:
        if debug:
            import traceback

            traceback.print_exc()
        _report(error)
        return error.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception as error:  # an AWS refusal, a network failure, a bug: never a bare trace
        if debug:
            import traceback

            traceback.print_exc()
        _report(as_wizard_error(error))
        return EXIT_FAILED


def _report(error: WizardError) -> None:
    print(f"error: {error.title}", file=sys.stderr)
    print(error.message, file=sys.stderr)
    if error.hint:
        print(error.hint, file=sys.stderr)


def _load(args: argparse.Namespace) -> LaunchConfig:
    from wizard.config_file import load_config

    config = load_config(args.config)
    overrides = {
        key: value
        for key, value in (
            ("profile", args.profile),
            ("region", args.region),
            ("endpoint_url", args.endpoint_url),
        )
        if value is not None
    }
    if overrides:
        from pydantic import ValidationError

        from wizard.config_file import problems_from

        try:
            config = config.model_validate(
                {**config.model_dump(), "aws": {**config.aws.model_dump(), **overrides}}
            )
        except ValidationError as error:
            raise ProblemsError(problems_from(error), title="Invalid option") from error
    for warning in config.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    return config


def _checked_artifacts(
    args: argparse.Namespace, *, lint: bool
) -> tuple[LaunchConfig, dict[str, str]]:
    from wizard.crosscheck import cross_artifact_problems
    from wizard.render import render_artifacts

    config = _load(args)
    artifacts = render_artifacts(config, args.account_id)
    problems = cross_artifact_problems(config, artifacts)
    if lint:
        from wizard.lint import lint_artifacts

        report = lint_artifacts(artifacts, config.aws.region, config.airflow.version)
        problems += report.problems
        for warning in report.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if problems:
        raise ProblemsError(problems, title="The rendered artifacts disagree")
    return config, artifacts


def _render(args: argparse.Namespace) -> int:
    from wizard.render import write_artifacts

    _, artifacts = _checked_artifacts(args, lint=args.lint)
    written = write_artifacts(artifacts, args.out)
    for path in written:
        print(path)
    checks = (
        "cross-artifact checks, botocore, cfn-lint, shellcheck"
        if args.lint
        else ("JSON and cross-artifact checks; add --lint for botocore, cfn-lint and shellcheck")
    )
    print(f"wrote {len(written)} files to {args.out} ({checks})", file=sys.stderr)
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    config, artifacts = _checked_artifacts(args, lint=True)
    print(
        f"{args.config}: launch {config.name} is valid; {len(artifacts)} artifacts render and "
        "pass every check"
    )
    return EXIT_OK


def _patch_template(args: argparse.Namespace) -> int:
    from wizard.input_limits import decode_utf8, read_limited
    from wizard.patch_template import patch_template_text

    source = "stdin" if args.template == "-" else args.template
    hint = "Give the path of the stack's template (aws cloudformation get-template)."
    data = read_limited(
        None if args.template == "-" else Path(args.template), "a template", hint=hint
    )
    text = decode_utf8(data, source, hint=hint)
    problems = _patch_argument_problems(args)
    if problems:
        raise ProblemsError(problems, title="Bad arguments")
    result = patch_template_text(
        text,
        cluster_name=args.cluster,
        bootstrap_uri=args.bootstrap_uri,
        source_name=Path(source).name,
    )
    if args.diff:
        sys.stdout.write(result.diff or "")
    if args.out:
        args.out.write_text(result.text)
        print(f"wrote {args.out}", file=sys.stderr)
    elif not args.diff:
        sys.stdout.write(result.text)
    summary = "changed: " + ", ".join(result.changed_paths) if result.changed else "already patched"
    print(summary, file=sys.stderr)
    return EXIT_OK


def _launch_command(name: str) -> Command:
    """A command of `wizard.cli_launch`, imported only when it runs (it loads boto3 and rich)."""

    def run(args: argparse.Namespace) -> int:
        from wizard import cli_launch

        handler = getattr(cli_launch, name)
        return int(handler(args, _load(args)))

    return run


def _status(args: argparse.Namespace) -> int:
    from wizard.cli_launch import status_command

    return status_command(args)


def _destroy(args: argparse.Namespace) -> int:
    from wizard.cli_launch import destroy_command

    return destroy_command(args)


def _rehearse(args: argparse.Namespace) -> int:
    from wizard.rehearse.command import rehearse_command

    return rehearse_command(args, _load(args))


def _sandbox(args: argparse.Namespace) -> int:
    import signal
    import time

    from wizard.launches import state_path_for
    from wizard.sandbox import Sandbox
    from wizard.sandbox_account import sandbox_home

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the emulator on TERM too

    folder = args.folder or sandbox_home()
    running = Sandbox(folder)
    running.start()
    exports = " ".join(f"{key}={value}" for key, value in running.environment().items())
    config, state = running.config_path, state_path_for(running.config_path)
    if running.resumed:
        print(f"AWS emulator at {running.endpoint}: the account kept in {folder}, replayed")
    else:
        print(f"AWS emulator at {running.endpoint}, seeded; config written to {config}")
    print(f"The account is kept in {folder} between runs; remove that folder to start over.")
    print("In another terminal:")
    print(f"  export {exports}")
    print(f"  airflow-ecs-wizard plan  --config {config}")
    print(f"  airflow-ecs-wizard apply --config {config} --state {state} --yes")
    print("Ctrl-C stops the emulator (the account stays kept).", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        running.stop()


def _wizard(args: argparse.Namespace) -> int:
    """The full-screen wizard (imported only now: the headless commands never load Textual)."""
    from screens.app import run_wizard

    return run_wizard(
        sandbox=args.sandbox,
        dry_run=args.dry_run,
        state=args.state,
        config=args.config,
        folder=args.folder,
    )


def _init(args: argparse.Namespace) -> int:
    if args.plain:
        from wizard.prompts import run_plain

        return run_plain(args)
    from screens.app import run_wizard

    return run_wizard(template=args.start_from, folder=args.config.parent.resolve())


def _patch_argument_problems(args: argparse.Namespace) -> list[Problem]:
    from wizard import naming

    problems = []
    problem = naming.ecs_name_problem(args.cluster)
    if problem:
        problems.append(Problem("--cluster", f"{quoted(args.cluster)} {problem}"))
    uri: str = args.bootstrap_uri
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not key or key.endswith("/") or naming.bucket_problem(bucket):
        problems.append(
            Problem(
                "--bootstrap-uri",
                f"{quoted(uri)} must be the bootstrap file's s3:// URI, "
                "e.g. s3://BUCKET/airflow/staging/bootstrap/bootstrap.sh",
            )
        )
    return problems


if __name__ == "__main__":
    sys.exit(main())
