"""report.md: the blocks as GitHub Markdown, linking the PNGs written beside it."""

from __future__ import annotations

from uscd.report.blocks import Alert, Block, BulletList, Heading, Image, Paragraph, Table, blocks


def to_markdown(data: dict, images: set[str] | None = None) -> str:
    """The report; figures are linked only where their PNG is in `images` (none on stdout)."""
    parts = [md_block(block, images or set()) for block in blocks(data)]
    return "\n\n".join(p for p in parts if p is not None) + "\n"


def md_block(block: Block, images: set[str]) -> str | None:
    match block:
        case Heading(level, text):
            return f"{'#' * level} {text}"
        case Paragraph(text):
            return text
        case BulletList(items):
            return "\n".join(f"- {item}" for item in items)
        case Table(head, rows):
            return md_table(head, rows)
        case Alert(text):
            return f"> **Warning:** {text}"
        case Image(name, alt) if name in images:
            return f"![{alt}]({name})"
    return None


def md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(md_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
