"""The method grammar of the command line: `[LABEL=]RULE[:knob=value...]` or `[LABEL=]@PRESET` (a
model's named method, uscd.methods.presets), comma-separated.

Knob names and types come from the rule dataclasses themselves, so adding a knob to a rule makes
it available here with no other change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from uscd.errors import UscdError
from uscd.methods import RULES, make_rule
from uscd.methods.rule import Rule

LAME_SOURCES = ("derived", "official")
# short names accepted on the command line for a rule's field
KNOB_ALIASES = {"filter": "filter_num"}


@dataclass(frozen=True)
class MethodSpec:
    """A labelled rule with its knobs."""

    label: str
    rule: str
    knobs: dict = field(default_factory=dict)
    lame_source: str = "derived"
    preset: str | None = None  # the model's preset these knobs come from (`@NAME`)

    def build(self, defaults: dict) -> Rule:
        return make_rule(self.rule, **{**defaults, **self.knobs})


def knob_types(rule: str) -> dict[str, type]:
    return RULES[rule].knob_types()


def parse_methods(text: str, model: str | None = None) -> list[MethodSpec]:
    """`greedy,cd,paper=uscd:measure=std-norm:threshold=0.8947,uscd-offl=uscd:lame=official,@branch`;
    a preset is `model`'s (None: the default model)."""
    specs = [_parse_method(part.strip(), model) for part in text.split(",") if part.strip()]
    if not specs:
        raise UscdError("no methods given")
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise UscdError(f"method labels must be unique, got {', '.join(labels)}")
    return specs


def _parse_method(part: str, model: str | None = None) -> MethodSpec:
    head, *options = part.split(":")
    label, _, rule = head.partition("=") if "=" in head else (head, "", head)
    if rule.startswith("@"):
        return _preset(part, label.removeprefix("@"), rule.removeprefix("@"), options, model)
    if rule not in RULES:
        raise UscdError(f"method {part!r}: unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    if not label.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise UscdError(f"method label {label!r} must be letters, digits, '-', '_' or '.'")
    knobs: dict[str, Any] = {}
    lame_source = "derived"
    for opt in options:
        key, sep, value = opt.partition("=")
        if not sep:
            raise UscdError(f"method {part!r}: option {opt!r} is not key=value")
        if key == "lame":
            if value not in LAME_SOURCES:
                raise UscdError(f"method {part!r}: lame must be one of {', '.join(LAME_SOURCES)}")
            lame_source = value
            continue
        name, kind = _knob(part, rule, key)
        knobs[name] = _value(part, key, kind, value)
    return MethodSpec(label, rule, knobs, lame_source)


def _preset(part: str, label: str, name: str, options: list[str], model: str | None) -> MethodSpec:
    from uscd.methods.presets import find_preset

    if options:
        raise UscdError(f"method {part!r}: a preset takes no options; write its rule and knobs instead")
    preset = find_preset(name, model)
    if not label.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise UscdError(f"method label {label!r} must be letters, digits, '-', '_' or '.'")
    return MethodSpec(label, preset.rule, dict(preset.knobs), "derived", preset.name)


def _value(part: str, key: str, kind: type, value: str):
    if kind is bool:  # bool("false") is True: spell the two values out
        if value.lower() not in ("true", "false", "1", "0"):
            raise UscdError(f"method {part!r}: {key} needs true or false, got {value!r}")
        return value.lower() in ("true", "1")
    try:
        return kind(value)
    except ValueError:
        raise UscdError(f"method {part!r}: {key} needs a number, got {value!r}") from None


def _knob(part: str, rule: str, key: str) -> tuple[str, type]:
    types = knob_types(rule)
    name = KNOB_ALIASES.get(key, key)
    if name not in types:
        known = ", ".join([*(k for k in types if k not in KNOB_ALIASES.values()), *KNOB_ALIASES, "lame"])
        raise UscdError(f"method {part!r}: unknown knob {key!r} for rule {rule}; known: {known}")
    return name, types[name]
