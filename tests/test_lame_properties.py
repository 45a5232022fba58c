"""Properties of uscd.prompts.lame.derive (hypothesis): idempotent, never adds text, identity
without examples."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uscd.prompts.lame import LANGUAGES, derive

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- prompts built from the constructs derive looks for, mixed with prose and blank lines


def words(text: str) -> list[str]:
    return text.split()


WORDS = st.sampled_from(
    words(
        "return the list of numbers sorted by value and keep order if empty none given a string "
        "count each word note that all inputs are valid"
    )
)
PROSE = st.lists(WORDS, min_size=3, max_size=9).map(lambda ws: " ".join(ws).capitalize() + ".")
ARG = st.sampled_from(["1", "[1, 2]", "'ab'", '"x y"', "-3", "[]", "(1, 2)", "2.5"])
CALL = st.builds(lambda a, b: f"f({a}, {b})", ARG, ARG)
RESULT = st.sampled_from(["True", "0", "[2, 1]", "'ba'", "None", "-1"])
ARROW = st.sampled_from(["==", "=>", "->", "➞", "==>", "returns", "should return"])
EXAMPLE_LINE = st.one_of(
    st.builds(lambda c, r: f">>> {c}\n{r}", CALL, RESULT),
    st.builds(lambda c, a, r: f"{c} {a} {r}", CALL, ARROW, RESULT),
    st.builds(lambda a, r: f"Input: {a}\nOutput: {r}", ARG, RESULT),
    st.builds(lambda c, r: f"assert {c} == {r}", CALL, RESULT),
)
HEADING = st.sampled_from(["Example:", "Examples:", "For example:", "Examples", "Example 1:"])
TERMINATOR = st.sampled_from(["Note:", "Constraints:", "Note: the input is valid."])
CHUNK = st.one_of(PROSE, PROSE, EXAMPLE_LINE, HEADING, TERMINATOR, st.just(""))
DOC = st.lists(CHUNK, min_size=1, max_size=12).map(lambda chunks: "\n".join(chunks))
INDENT = st.sampled_from(["", "    ", "  "])


def python_prompt(doc: str, indent: str) -> str:
    body = "\n".join(indent + line if line else "" for line in doc.split("\n"))
    return f'def f(a, b):\n    """{body}\n    """\n'


PY_PROMPTS = st.builds(python_prompt, DOC, INDENT)
MARKERS = {"js": "// ", "sh": "# ", "lua": "-- ", "rkt": ";; ", "rs": "/// "}
COMMENT_PROMPTS = st.builds(
    lambda doc, lang: (lang, "\n".join(MARKERS[lang] + line for line in doc.split("\n")) + "\nfn f() {\n"),
    DOC,
    st.sampled_from(sorted(MARKERS)),
)


def is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


def chars_subsequence(small: str, big: str) -> bool:
    it = iter(big)
    return all(ch in it for ch in small)


@SETTINGS
@given(PY_PROMPTS)
def test_idempotent_python(prompt: str):
    once = derive(prompt, "python").lame
    assert derive(once, "python").lame == once


@SETTINGS
@given(COMMENT_PROMPTS)
def test_idempotent_comments(case: tuple[str, str]):
    lang, prompt = case
    once = derive(prompt, lang).lame
    assert derive(once, lang).lame == once


@SETTINGS
@given(PY_PROMPTS)
def test_never_adds_text_python(prompt: str):
    res = derive(prompt, "python")
    if not any(r.partial for r in res.removals):  # partial: prose after an opening delimiter
        assert is_subsequence(res.lame.split("\n"), prompt.split("\n"))
    assert chars_subsequence(res.lame, prompt)
    compile(res.lame + "    pass\n", "<lame>", "exec")  # still valid Python


@SETTINGS
@given(COMMENT_PROMPTS)
def test_never_adds_text_comments(case: tuple[str, str]):
    lang, prompt = case
    res = derive(prompt, lang)
    assert is_subsequence(res.lame.split("\n"), prompt.split("\n"))
    assert res.lame.endswith("fn f() {\n")  # code after the comment is untouched


@SETTINGS
@given(st.text(max_size=400), st.sampled_from(LANGUAGES))
def test_arbitrary_text_never_crashes_or_adds(prompt: str, language: str):
    res = derive(prompt, language)
    assert chars_subsequence(res.lame, prompt)
    if not any(r.partial for r in res.removals):
        assert is_subsequence(res.lame.split("\n"), prompt.split("\n"))
    assert derive(res.lame, language).lame == res.lame


# --- prompts without any example syntax: derive is the identity

PLAIN_WORDS = st.sampled_from(
    words(
        "the a list of numbers value values sorted return returns keep order empty string count "
        "word words each all inputs valid is are be and or not if when then only between two"
    )
)
PLAIN_LINE = st.lists(PLAIN_WORDS, min_size=1, max_size=10).map(" ".join).map(lambda s: s + st_punct(len(s)))


def st_punct(n: int) -> str:
    return [".", ",", ":", ";", ""][n % 5]


PLAIN_DOC = st.lists(st.one_of(PLAIN_LINE, st.just("")), min_size=1, max_size=10).map("\n".join)


@SETTINGS
@given(PLAIN_DOC, INDENT)
def test_identity_without_examples_python(doc: str, indent: str):
    prompt = python_prompt(doc, indent)
    res = derive(prompt, "python")
    assert res.is_noop and res.lame == prompt and res.removals == ()


@SETTINGS
@given(PLAIN_DOC, st.sampled_from(sorted(MARKERS)))
def test_identity_without_examples_comments(doc: str, lang: str):
    prompt = "\n".join(MARKERS[lang] + line for line in doc.split("\n")) + "\nfn f() {\n"
    assert derive(prompt, lang).is_noop
