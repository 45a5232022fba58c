"""evalplus's differential testing, executed inside the sandbox (this source is embedded in the
test program; uscd itself never runs it on model code).

The program calls ``check(SOLUTION, SPEC)``: the solution (prompt + completion, or a user's whole
solution) is executed in a fresh namespace, as evalplus does, then called on every input and
compared with the reference solution's output. Any failure raises, so the program does not run to
its end and the sandbox counts it as failed. Stdlib only (numpy when a float comparison needs it).

Semantics re-implemented from evalplus 0.3.1 (evalplus/evaluate.py get_groundtruth and
check_correctness, evalplus/eval/__init__.py unsafe_execute and untrusted_check,
evalplus/eval/_special_oracle.py, evalplus/data/mbpp.py mbpp_deserialize_inputs):

- expected outputs: the reference (dataset prompt + canonical_solution) on a deep copy of each
  input, each call timed (evalplus computes them once per dataset; here, in every program);
- a per-input time limit of max(1 s, 4 x the reference's time) and, for the whole suite,
  min(60 s, their sum) + 1 s (untrusted_check's process timeout);
- the first failing input ends the suite (evalplus's default fast_check);
- output == expected, else for floats np.allclose(rtol=1e-7, atol) with the task's atol, or 1e-6
  from the first float output on (evalplus's `atol` variable stays changed for later inputs);
- special oracles for find_zero (HumanEval/32) and the MBPP+ tasks evalplus names. evalplus 0.3.1
  never records a find_zero input as passed (fixed upstream in 6eb1e19); this follows the fix.
"""

import contextlib
import copy
import io
import json
import math
import signal
import time

MIN_TIME_LIMIT_S = 1.0
GT_TIME_LIMIT_FACTOR = 4.0
MAX_SUITE_S = 60.0

MBPP_OUTPUT_NOT_NONE = ("check_str", "text_match_three", "text_starta_endb")
MBPP_OUTPUT_SET_EQ = (
    "similar_elements",
    "find_char_long",
    "common_in_nested_lists",
    "extract_singly",
    "larg_nnum",
    "intersection_array",
    "find_dissimilar",
    "Diff",
)


class SuiteFailed(AssertionError):
    pass


class SuiteTimeout(Exception):
    pass


class _InputTimeout(Exception):
    pass


# --------------------------------------------------------------------------- MBPP+ input types
# JSON has no tuples, sets or complex numbers: evalplus converts these tasks' inputs back.


def _tuples(inp):
    return [tuple(x) for x in inp]


def _nested_tuples(inp):
    return [[tuple(x) for x in group] for group in inp]


def _deep_tuple(x):
    return tuple(_deep_tuple(i) for i in x) if isinstance(x, list) else x


_BY_KIND = {
    "tuples": _tuples,
    "nested": _nested_tuples,
    "first_nested": lambda inp: [[tuple(x) for x in inp[0]], inp[1]],
    "second_tuple": lambda inp: [inp[0], tuple(inp[1])],
    "sets": lambda inp: [[set(x) if isinstance(x, list) and len(x) else {} for x in inp[0]]],
    "float_complex": lambda inp: (float(inp[0]), complex(inp[1])),
    "first_tuple": lambda inp: [tuple(inp[0]), inp[1]],
    "nested_then_tuples": lambda inp: _tuples(_nested_tuples(inp)),
    "items_then_tuples": lambda inp: _tuples([[tuple(x) if isinstance(x, list) else x for x in inp[0]]]),
    "first_tuple_3": lambda inp: [tuple(inp[0]), inp[1], inp[2]],
    "dict_values": lambda inp: [{k: tuple(v) for k, v in inp[0].items()}, *inp[1:]],
    "complex": lambda inp: [complex(inp[0])],
    "deep": _deep_tuple,
}
_TUPLE_TASKS = (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630)
_KIND_OF_TASK = {
    **dict.fromkeys((*_TUPLE_TASKS, 726, 740, 744, 809), "tuples"),
    **dict.fromkeys((63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780), "nested"),
    **dict.fromkeys((75, 413, 444, 753), "first_nested"),
    **dict.fromkeys((106, 750), "second_tuple"),
    115: "sets",
    124: "float_complex",
    **dict.fromkeys((250, 405, 446, 617, 720, 763, 808), "first_tuple"),
    **dict.fromkeys((259, 401, 445), "nested_then_tuples"),
    278: "items_then_tuples",
    307: "first_tuple_3",
    722: "dict_values",
    252: "complex",
    **dict.fromkeys((580, 615, 791), "deep"),
}


def deserialize(dataset, task_id, inputs):
    if dataset != "mbpp":
        return inputs
    kind = _KIND_OF_TASK.get(int(str(task_id).split("/")[-1]))
    return inputs if kind is None else [_BY_KIND[kind](inp) for inp in inputs]


# --------------------------------------------------------------------------- comparison


def _poly(xs, x):
    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def _surface_area(base_edge, height):
    slant_height = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 4 * (base_edge * slant_height) / 2)


def _digit_distance_nums(num1, num2):
    a, b = str(num1), str(num2)
    width = max(len(a), len(b))
    return sum(abs(int(x) - int(y)) for x, y in zip(a.zfill(width), b.zfill(width), strict=True))


def is_floats(x):
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    try:
        import numpy as np
    except ImportError:
        return False
    if isinstance(x, np.ndarray):
        return x.dtype == np.float64 or x.dtype == np.float32
    return False


def _special_match(dataset, entry, inp, out, exp, atol, exact):
    if dataset != "mbpp":
        return exact
    if entry == "are_equivalent":  # Mbpp/164: evalplus accepts any output
        return True
    if entry == "sum_div":  # Mbpp/295
        return exact or out == 0
    if entry == "surface_Area":  # Mbpp/581
        return exact or abs(out - _surface_area(*inp)) <= atol
    if entry == "digit_distance_nums":  # Mbpp/558
        return exact or out == _digit_distance_nums(*inp)
    if entry in MBPP_OUTPUT_SET_EQ:
        return set(out) == set(exp)
    if entry in MBPP_OUTPUT_NOT_NONE:
        return out == exp if isinstance(out, bool) else exp == (out is not None)
    return exact


def compare(dataset, entry, inp, out, exp, atol):
    """Raise when `out` is wrong; return the atol later inputs are compared with."""
    if dataset == "humaneval" and entry == "find_zero":
        assert abs(_poly(*inp, out)) <= atol
        return atol
    exact = _special_match(dataset, entry, inp, out, exp, atol, out == exp)
    if atol == 0 and is_floats(exp):
        atol = 1e-6
    if not exact and atol != 0:
        import numpy as np

        assert type(out) == type(exp)  # noqa: E721 - evalplus compares the exact types
        if isinstance(exp, (list, tuple)):
            assert len(out) == len(exp)
        assert np.allclose(out, exp, rtol=1e-07, atol=atol)
    else:
        assert exact
    return atol


# --------------------------------------------------------------------------- running


class _Sink(io.StringIO):
    """Swallows output; reading from it fails (evalplus's WriteOnlyStringIO, without the memory)."""

    def write(self, s):
        return len(s)

    def read(self, *args):
        raise OSError("stdin is not available")

    readline = readlines = read

    def readable(self):
        return False


@contextlib.contextmanager
def _swallow_io():
    sink = _Sink()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), _stdin(sink):
        yield


@contextlib.contextmanager
def _stdin(stream):
    import sys

    old, sys.stdin = sys.stdin, stream
    try:
        yield
    finally:
        sys.stdin = old


def _on_alarm(signum, frame):
    raise _InputTimeout("time limit exceeded")


@contextlib.contextmanager
def _time_limit(seconds):
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def ground_truth(reference, entry, inputs, output_not_none):
    """The reference's outputs and per-input times (evalplus's trusted_exec)."""
    namespace = {}
    with _swallow_io():
        exec(compile(reference, "<reference>", "exec"), namespace)
    fn = namespace[entry]
    outputs, times = [], []
    for inp in inputs:
        inp = copy.deepcopy(inp)
        with _swallow_io():
            start = time.time()
            outputs.append(fn(*inp))
            times.append(time.time() - start)
    if output_not_none:
        outputs = [out is not None for out in outputs]
    return outputs, times


def _load_candidate(solution, entry, deadline):
    namespace = {}
    try:
        with _time_limit(deadline - time.time()), _swallow_io():
            exec(compile(solution, "<solution>", "exec"), namespace)
    except _InputTimeout:
        raise SuiteTimeout("the solution's own code ran out of the suite's time") from None
    except BaseException as exc:
        raise SuiteFailed(f"the solution does not load: {type(exc).__name__}: {exc}"[:200]) from None
    if entry not in namespace:
        raise SuiteFailed(f"the solution defines no {entry}")
    return namespace[entry]


def _check_inputs(spec, fn, inputs, expected, limits, deadline):
    atol = spec["atol"]
    for i, inp in enumerate(inputs):
        left = deadline - time.time()
        if left <= 0:
            raise SuiteTimeout(f"the suite ran out of time at input {i} of {len(inputs)}")
        try:
            with _time_limit(min(limits[i], left)), _swallow_io():
                out = fn(*inp)
            atol = compare(spec["dataset"], spec["entry_point"], inp, out, expected[i], atol)
        except BaseException as exc:
            what = "time limit exceeded" if isinstance(exc, _InputTimeout) else type(exc).__name__
            raise SuiteFailed(f"{spec['suite']} input {i} of {len(inputs)}: {what}") from None


def check(solution, spec_json):
    spec = json.loads(spec_json)
    entry = spec["entry_point"]
    inputs = deserialize(spec["dataset"], spec["task_id"], spec["inputs"])
    not_none = spec["dataset"] == "mbpp" and entry in MBPP_OUTPUT_NOT_NONE
    expected, times = ground_truth(spec["reference"], entry, inputs, not_none)
    limits = [max(MIN_TIME_LIMIT_S, GT_TIME_LIMIT_FACTOR * t) for t in times]
    deadline = time.time() + min(MAX_SUITE_S, sum(limits)) + 1
    fn = _load_candidate(solution, entry, deadline)
    _check_inputs(spec, fn, inputs, expected, limits, deadline)
