"""Named methods per model: a rule and knobs that a committed run supports on that model, with a
pointer to the run and its numbers. A preset exists only where it was measured on that model; a
model without one gets a one-line error that says which models have it.

    --methods @branch | b=@branch        uscd eval
    --preset branch                      uscd generate
    --method @branch                     uscd serve
    {"uscd": {"preset": "branch"}}       a served request
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from uscd.errors import UscdError


@dataclass(frozen=True)
class Preset:
    """A rule with its knobs, and the evidence for it on one model."""

    name: str
    rule: str
    knobs: dict = field(default_factory=dict)
    evidence: str = ""  # the docs section, the committed run and its numbers
    measured: bool = False  # the evidence is a run of this rule and these knobs on this model
    run: str = ""  # the committed run folder (its config.json holds these knobs)
    baseline: str = ""  # the run it is compared with (greedy), on the same problems

    def describe(self) -> dict:
        return {
            "preset": self.name,
            "rule": self.rule,
            "knobs": dict(self.knobs),
            "evidence": self.evidence,
            "measured": self.measured,
            "run": self.run,
        }


BRANCH_05B = Preset(
    name="branch",
    rule="branch",
    knobs={"k": 3, "m": 2, "max_branches": 6, "measure": "std-norm", "alpha": 0.1},
    evidence=(
        "docs/branch.md, Results: HumanEval, 0.5B (results/qwen2.5-coder-0.5b/humaneval/branch, "
        "completion prompts, --batch 1): pass@1 64.0 % vs greedy 42.1 % on the full tests "
        "(36 fixed / 0 broken), 66.3 % vs 44.8 % on the held-out tests; MBPP (results/qwen2.5-coder-0.5b/"
        "mbpp-b1/branch, 500 problems): 44.4 % vs 33.2 % (56 / 0), 45.9 % vs 35.7 % held-out"
    ),
    measured=True,
    run="results/qwen2.5-coder-0.5b/humaneval/branch",
    baseline="results/qwen2.5-coder-0.5b/humaneval/greedy",
)

BRANCH_15B = Preset(
    name="branch",
    rule="branch",
    knobs=BRANCH_05B.knobs,  # the 0.5B's knobs, used as they are: nothing was tuned on the 1.5B
    evidence=(
        "docs/branch.md, Results: HumanEval, 1.5B (results/qwen2.5-coder-1.5b/humaneval/branch, "
        "completion prompts, --batch 8): pass@1 76.8 % vs greedy 53.0 % on the full tests "
        "(40 fixed / 1 broken), 76.7 % vs 53.4 % on the held-out tests; MBPP (results/qwen2.5-coder-1.5b/"
        "mbpp/branch, 500 problems, --batch 8): 60.4 % vs 47.2 % (74 / 8), 62.1 % vs 49.3 % held-out"
    ),
    measured=True,
    run="results/qwen2.5-coder-1.5b/humaneval/branch",
    baseline="results/qwen2.5-coder-1.5b/humaneval/greedy",
)

# registry model name -> its presets by name (each measured on that model)
PRESETS: dict[str, dict[str, Preset]] = {
    "qwen2.5-coder-0.5b-instruct": {BRANCH_05B.name: BRANCH_05B},
    "qwen2.5-coder-1.5b-instruct": {BRANCH_15B.name: BRANCH_15B},
}


def model_key(model: str | None) -> str:
    """The registry name of `model` (a name, an alias or the assembled file's path; None: the
    default model), else the path as given."""
    from uscd.models import DEFAULT_MODEL, lookup, model_name

    spec = lookup(model or DEFAULT_MODEL)
    if spec is not None:
        return spec.name
    assert model is not None
    return model_name(Path(model).expanduser())


def find_preset(name: str, model: str | None) -> Preset:
    """Preset `name` of `model`; a one-line UscdError when that model has none by that name."""
    key = model_key(model)
    found = PRESETS.get(key, {}).get(name)
    if found is not None:
        return found
    having = [m for m, presets in PRESETS.items() if name in presets]
    if having:
        raise UscdError(
            f"no preset {name!r} for model {key}: it was measured on {', '.join(having)} only; "
            "name the rule and its knobs instead"
        )
    known = sorted({p for presets in PRESETS.values() for p in presets})
    raise UscdError(f"unknown preset {name!r}; presets: {', '.join(known)}")
