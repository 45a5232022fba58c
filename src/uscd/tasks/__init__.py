"""Benchmark tasks: dataset records in, `Problem`s out.

`task = get_task("humaneval")` (or "mbpp", "humanevalplus", "mbppplus", "multipl-e-js", ...), then
`task.problems(limit=10)` or `task.problem("HumanEval/0")`; `task.dataset_path` and
`task.dataset_sha256` name the file actually read, for the run config.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from uscd.errors import UscdError
from uscd.tasks._common import Task
from uscd.tasks.base import Problem
from uscd.tasks.humaneval import HumanEvalTask
from uscd.tasks.humanevalplus import HumanEvalPlusTask
from uscd.tasks.mbpp import MbppTask
from uscd.tasks.mbppplus import MbppPlusTask
from uscd.tasks.multipl_e import LANGUAGES as MULTIPL_E_LANGUAGES
from uscd.tasks.multipl_e import MultiPLETask

__all__ = ["MULTIPL_E_LANGUAGES", "TASKS", "Problem", "Task", "get_task"]

_FACTORIES: dict[str, Callable[..., Task]] = {
    "humaneval": HumanEvalTask,
    "mbpp": MbppTask,
    "humanevalplus": HumanEvalPlusTask,
    "mbppplus": MbppPlusTask,
}
for _lang in MULTIPL_E_LANGUAGES:
    _FACTORIES[f"multipl-e-{_lang}"] = lambda _l=_lang, **kw: MultiPLETask(_l, **kw)

TASKS: tuple[str, ...] = tuple(_FACTORIES)
_ALIASES = {
    "humaneval+": "humanevalplus",
    "he": "humaneval",
    "mbpp-test": "mbpp",
    "mbpp+": "mbppplus",
    "mbppplus-snapshot": "mbppplus",
}


def get_task(name: str, **options: Any) -> Task:
    """The task called `name` (see TASKS); options are task-specific (data=PATH, split=...).

    Options set to None are ignored, so a CLI can pass its flags through unchanged.
    """
    key = _ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
    if key not in _FACTORIES:
        raise UscdError(
            f"unknown task {name!r}; known: humaneval, mbpp, humanevalplus, mbppplus, multipl-e-<lang>"
        )
    factory = _FACTORIES[key]
    given = {k: v for k, v in options.items() if v is not None}
    _check_options(key, factory, given)
    return factory(**given)


def _check_options(key: str, factory: Callable[..., Task], given: dict[str, Any]) -> None:
    target = MultiPLETask.__init__ if key.startswith("multipl-e-") else factory
    params = inspect.signature(target).parameters
    allowed = [p for p, spec in params.items() if spec.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise UscdError(
            f"task {key!r} takes no option(s) {', '.join(unknown)}; it takes: {', '.join(allowed)}"
        )
