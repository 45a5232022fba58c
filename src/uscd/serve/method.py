"""The decoding method of one request: the server's methods (``--method LABEL=RULE:knob=value``,
the first is the default) and what the request's ``uscd`` object (``extra_body``) changes.

    {"method": "LABEL"}                        one of the server's methods, with its knobs
    {"rule": "uscd", "rho": 0.3}               a rule with its defaults and these knobs
    {"rho": 0.3}                               the default method with this knob changed
    {"lame_prompt": "...", "language": "py"}   the lame prompt (else derived from the prompt)
    {"preset": "branch"}                       the served model's preset (uscd.methods.presets)

An unknown key or knob is a 400; a knob of the wrong JSON type a 422; a knob value the rule
refuses (rho < 0) a 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from uscd.errors import UscdError
from uscd.methods import DEFAULT_THRESHOLDS, RULES, Rule, make_rule
from uscd.methods.presets import find_preset
from uscd.methods.spec import KNOB_ALIASES, MethodSpec, knob_types, parse_methods
from uscd.serve.errors import ApiError

OPTION_KEYS = ("method", "rule", "preset", "lame_prompt", "language")


@dataclass(frozen=True)
class Method:
    """A request's resolved method: the rule, where its lame prompt comes from, and its label."""

    label: str
    rule_name: str  # as the request or --method named it ("sample" is the greedy rule, sampled)
    rule: Rule
    lame_prompt: str | None  # given by the client; None: derived when the rule reads one
    language: str | None  # None: the endpoint's default (python for completions, text for chat)

    def describe(self) -> dict:
        return {"method": self.label, "rule": self.rule_name, "knobs": self.rule.knobs()}


class ServerMethods:
    """The methods a server was started with; the first is every request's default."""

    def __init__(self, text: str = "uscd", model: str | None = None) -> None:
        """`text`: the --method grammar; `model`: the served model (its presets; None: the default)."""
        self.model = model
        self.specs = parse_methods(text, model)
        for spec in self.specs:
            if spec.lame_source != "derived":
                raise UscdError(f"method {spec.label}: the server derives lame prompts; drop lame=official")
            _build(spec.rule, spec.knobs)  # refuse a bad knob value at start-up, not per request
        self.by_label = {spec.label: spec for spec in self.specs}

    @property
    def default(self) -> MethodSpec:
        return self.specs[0]

    def describe(self) -> dict:
        return {
            "default": self.default.label,
            "methods": {
                s.label: {
                    "rule": s.rule,
                    "knobs": _build(s.rule, s.knobs).knobs(),
                    **({"preset": s.preset} if s.preset else {}),
                }
                for s in self.specs
            },
        }

    def resolve(self, options: dict[str, Any] | None) -> Method:
        """The method a request's ``uscd`` object asks for (None or {}: the default method)."""
        options = dict(options or {})
        if "preset" in options:
            return self._preset(options)
        spec = self._base(options)
        rule_name = options.pop("rule", None) or spec.rule
        knobs = dict(spec.knobs) if rule_name == spec.rule else {}
        label = spec.label if rule_name == spec.rule else rule_name
        lame = _text_option(options, "lame_prompt")
        language = _text_option(options, "language")
        if rule_name not in RULES:
            raise ApiError(
                400, f"unknown rule {rule_name!r}; choose one of {', '.join(RULES)}", param="uscd.rule"
            )
        changed = _knobs(rule_name, options)
        if changed and rule_name == spec.rule:
            label = f"{label}*"  # the server's method with knobs changed by the request
        return Method(label, rule_name, _build_for_request(rule_name, {**knobs, **changed}), lame, language)

    def _preset(self, options: dict) -> Method:
        """`{"preset": NAME}`: the served model's preset, as it stands (with a lame prompt or language)."""
        name = _text_option(options, "preset")
        lame, language = _text_option(options, "lame_prompt"), _text_option(options, "language")
        if options:
            given = ", ".join(options)
            raise ApiError(400, f"a preset takes no other options (got {given})", param="uscd.preset")
        try:
            preset = find_preset(name or "", self.model)
        except UscdError as exc:
            raise ApiError(400, str(exc), param="uscd.preset") from None
        return Method(f"@{preset.name}", preset.rule, _build(preset.rule, dict(preset.knobs)), lame, language)

    def _base(self, options: dict) -> MethodSpec:
        label = options.pop("method", None)
        if label is None:
            return self.default
        if label not in self.by_label:
            known = ", ".join(self.by_label)
            raise ApiError(400, f"unknown method {label!r}; this server has: {known}", param="uscd.method")
        return self.by_label[label]


def _text_option(options: dict, key: str) -> str | None:
    value = options.pop(key, None)
    if value is not None and not isinstance(value, str):
        raise ApiError(422, f"uscd.{key} must be a string", param=f"uscd.{key}", code="invalid_type")
    return value


def _knobs(rule_name: str, options: dict) -> dict:
    """The request's knobs for the rule, type-checked against the rule's dataclass fields."""
    types = knob_types(rule_name)
    out = {}
    for key, value in options.items():
        name = KNOB_ALIASES.get(key, key)
        if name not in types:
            aliases = {alias: field for alias, field in KNOB_ALIASES.items() if field in types}
            known = ", ".join([*OPTION_KEYS, *(k for k in types if k not in aliases.values()), *aliases])
            raise ApiError(
                400,
                f"unknown knob {key!r} for rule {rule_name}; known: {known}",
                param=f"uscd.{key}",
                code="unknown_knob",
            )
        out[name] = _typed(key, value, types[name])
    return out


def _typed(key: str, value: Any, kind: type) -> Any:
    ok = {
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        bool: isinstance(value, bool),
        str: isinstance(value, str),
    }.get(kind, False)
    if not ok:
        raise ApiError(422, f"uscd.{key} must be a {kind.__name__}", param=f"uscd.{key}", code="invalid_type")
    return float(value) if kind is float else value


def _build(rule_name: str, knobs: dict) -> Rule:
    if "measure" in knobs and "threshold" not in knobs and rule_name == "uscd":
        knobs = {**knobs, "threshold": DEFAULT_THRESHOLDS[knobs["measure"]]}
    return make_rule(rule_name, **knobs)


def _build_for_request(rule_name: str, knobs: dict) -> Rule:
    try:
        return _build(rule_name, knobs)
    except (UscdError, KeyError) as exc:
        raise ApiError(400, f"invalid knob value: {exc}", param="uscd", code="invalid_knob") from None
