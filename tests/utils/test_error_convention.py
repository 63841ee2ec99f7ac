"""The console scripts' error convention (clsr_plugin.utils.cli): one line, exit codes 2 / 1."""

import os
import signal

import pytest

from clsr_plugin.utils.cli import TRACEBACK_ENV, InputError, exit_on_sigterm, run_cli


def _raise(err):
    def body():
        raise err

    return body


@pytest.fixture(autouse=True)
def _no_traceback_env(monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)


def test_default_convention(capsys):
    assert run_cli("prog", lambda: None) == 0
    assert run_cli("prog", lambda: 3) == 3
    assert run_cli("prog", _raise(InputError("bad\n  input"))) == 2
    assert capsys.readouterr().err == "prog: error: bad input\n"
    assert run_cli("prog", _raise(PermissionError(13, "Permission denied", "f"))) == 1
    assert (
        capsys.readouterr().err
        == "prog: error: PermissionError: [Errno 13] Permission denied: 'f'\n"
    )
    with pytest.raises(RuntimeError):
        run_cli("prog", _raise(RuntimeError("not an input error")))


def test_options(capsys):
    assert run_cli("prog", _raise(RuntimeError("oom")), failures=(RuntimeError,)) == 1
    assert capsys.readouterr().err == "prog: error: RuntimeError: oom\n"

    class Mine(ValueError):
        pass

    long = "x " * 300
    assert run_cli(None, _raise(Mine(long)), bad_input=(Mine,), message=str) == 2
    assert capsys.readouterr().err == f"error: {long}\n"  # as raised: not collapsed or cut
    with pytest.raises(ValueError):
        run_cli(None, _raise(ValueError("other")), bad_input=(Mine,))
    with pytest.raises(OSError):
        run_cli(None, _raise(OSError("disk")), bad_input=(Mine,), failures=())


def test_traceback_env_reraises(monkeypatch):
    monkeypatch.setenv(TRACEBACK_ENV, "1")
    with pytest.raises(InputError):
        run_cli("prog", _raise(InputError("bad")))


def test_exit_on_sigterm():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as info, exit_on_sigterm():
        os.kill(os.getpid(), signal.SIGTERM)
    assert info.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before
