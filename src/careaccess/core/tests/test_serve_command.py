"""`careaccess serve`: the gunicorn command line it builds (its control socket stays with this
deployment's files) and its help."""

import io
from contextlib import redirect_stdout

import pytest
from django.conf import settings
from django.core.management import load_command_class

from careaccess.core.management.commands import serve


def argv(**options):
    command = serve.Command()
    parser = command.create_parser("careaccess", "serve")
    return command.gunicorn_argv(vars(parser.parse_args([f"--{k.replace('_', '-')}={v}" for k, v in options.items()])))


def after(args, flag):
    return args[args.index(flag) + 1]


def test_the_control_socket_is_under_careaccess_var_not_the_home_directory():
    args = argv()
    assert after(args, "--control-socket") == str(settings.VAR_DIR / "gunicorn.ctl")
    assert after(args, "--control-socket-mode") == "384"  # 0600: this deployment's user only
    assert "/root/.gunicorn" not in " ".join(args)


def test_the_control_socket_can_be_moved_or_turned_off(tmp_path):
    assert after(argv(control_socket=tmp_path / "c.ctl"), "--control-socket") == str(tmp_path / "c.ctl")
    off = argv(control_socket="none")
    assert "--no-control-socket" in off and "--control-socket" not in off


def test_gunicorn_reads_the_socket_the_command_gives_it():
    from gunicorn.config import Config

    config = Config()
    parsed = config.parser().parse_args(argv()[2:])
    assert parsed.control_socket == str(settings.VAR_DIR / "gunicorn.ctl")


def test_every_option_has_help():
    parser = load_command_class("careaccess.core", "serve").create_parser("careaccess", "serve")
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    text = out.getvalue()
    for option in ("--bind", "--workers", "--threads", "--access-log", "--control-socket"):
        assert option in text
    assert "HOST:PORT" in text and "CAREACCESS_VAR" in text
