"""Runs a candidate solution's example checks, inside the sandbox only.

Never imported by uscd: uscd.search.checks appends a call of `_uscd_main` to this source and hands
the whole program to uscd.execution. The solution is executed in a namespace of its own; each check
then runs on its own (an exception, a wrong value or a check that runs past its time fails that
check only), with stdout captured so the solution's prints cannot disturb the report: one line,
MARKER + a JSON list of [passed, detail], written to fd 1 at the end.
"""

import builtins as _uscd_builtins
import contextlib as _uscd_contextlib
import doctest as _uscd_doctest
import io as _uscd_io
import json as _uscd_json
import os as _uscd_os
import signal as _uscd_signal

_USCD_DETAIL = 80  # characters of a failure's detail kept per check
_USCD_LINE = 3500  # the report must fit in the stdout tail the sandbox keeps (4096 bytes)


class _UscdTimeout(BaseException):
    """A check ran past its time (BaseException: the solution's `except Exception` cannot eat it)."""


def _uscd_alarm(signum, frame):
    raise _UscdTimeout()


class _UscdRecorder(_uscd_doctest.DocTestRunner):
    """A doctest runner that remembers how its last example went instead of printing it."""

    def __init__(self):
        super().__init__(verbose=False, optionflags=0)
        self.detail = None

    def report_start(self, out, test, example):
        self.detail = None

    def report_success(self, out, test, example, got):
        self.detail = ""

    def report_failure(self, out, test, example, got):
        self.detail = "got " + repr(got.rstrip("\n"))

    def report_unexpected_exception(self, out, test, example, exc_info):
        name = exc_info[0].__name__
        self.detail = "timed out" if name == "_UscdTimeout" else "raised " + name


def _uscd_timed(seconds, fn, *args):
    _uscd_signal.signal(_uscd_signal.SIGALRM, _uscd_alarm)
    _uscd_signal.setitimer(_uscd_signal.ITIMER_REAL, seconds)
    try:
        with _uscd_contextlib.redirect_stdout(_uscd_io.StringIO()):
            return fn(*args)
    finally:
        _uscd_signal.setitimer(_uscd_signal.ITIMER_REAL, 0)


def _uscd_doctest_check(check, ns, runner):
    example = _uscd_doctest.Example(check["code"], check["expected"])
    test = _uscd_doctest.DocTest([example], ns, "example", "prompt", check["line"], None)
    runner.run(test, clear_globs=False)
    return (runner.detail == ""), runner.detail or ""


def _uscd_equals_check(check, ns):
    got = eval(compile(check["code"], "example", "eval"), ns)
    want = eval(compile(check["expected"], "expected", "eval"), ns)
    same = bool(got == want)
    return same, "" if same else "got " + repr(got)


def _uscd_assert_check(check, ns):
    exec(compile(check["code"], "example", "exec"), ns)
    return True, ""


def _uscd_one(check, ns, runner, seconds):
    try:
        if check["mode"] == "doctest":
            return _uscd_timed(seconds, _uscd_doctest_check, check, ns, runner)
        if check["mode"] == "equals":
            return _uscd_timed(seconds, _uscd_equals_check, check, ns)
        return _uscd_timed(seconds, _uscd_assert_check, check, ns)
    except _UscdTimeout:
        return False, "timed out"
    except BaseException as exc:  # any failure of the candidate fails this check only
        return False, "raised " + type(exc).__name__


def _uscd_report(marker, results):
    rows = [[bool(ok), str(detail)[:_USCD_DETAIL]] for ok, detail in results]
    line = marker + _uscd_json.dumps(rows)
    if len(line) > _USCD_LINE:
        line = marker + _uscd_json.dumps([[ok, ""] for ok, _ in rows])
    _uscd_os.write(1, ("\n" + line + "\n").encode())


def _uscd_main(solution, checks, marker, seconds):
    ns = {"__name__": "solution", "__builtins__": _uscd_builtins}
    try:
        _uscd_timed(seconds, exec, compile(solution, "solution.py", "exec"), ns)
    except _UscdTimeout:
        _uscd_report(marker, [(False, "solution: timed out")] * len(checks))
        return
    except BaseException as exc:  # a solution that does not load fails all
        _uscd_report(marker, [(False, "solution: raised " + type(exc).__name__)] * len(checks))
        return
    runner = _UscdRecorder()
    _uscd_report(marker, [_uscd_one(check, ns, runner, seconds) for check in checks])
