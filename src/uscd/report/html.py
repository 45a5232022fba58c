"""index.html: the blocks through a jinja2 template, with the CSS and the PNGs inlined (one file)."""

from __future__ import annotations

import base64
import html
import re
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from markupsafe import Markup

if TYPE_CHECKING:
    import jinja2

from uscd.report.blocks import Block, Image, blocks


def inline(text: str) -> Markup:
    """Escaped text, with Markdown's `code` spans as <code>."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False)))


def attribute(text: str) -> Markup:
    return Markup(html.escape(text))


def b64(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


@cache
def template() -> jinja2.Template:
    import jinja2  # here, not at the top: every `uscd` command imports the report's CLI module

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("uscd.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters |= {"inline": inline, "attribute": attribute, "base64": b64}
    return env.get_template("report.html.j2")


@cache
def css() -> str:
    """templates/style.css, one rule group a line there, joined into one line of the page."""
    text = resources.files("uscd.report").joinpath("templates/style.css").read_text(encoding="utf-8")
    return "".join(line.strip() for line in text.splitlines())


def to_html(data: dict, images: dict[str, bytes] | None = None) -> str:
    images = images or {}
    parts = [b for b in blocks(data) if shown(b, images)]
    return template().render(parts=parts, images=images, css=css())


def shown(block: Block, images: dict[str, bytes]) -> bool:
    """A figure appears only where its PNG was drawn."""
    return not isinstance(block, Image) or block.name in images
