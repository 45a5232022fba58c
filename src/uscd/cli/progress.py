"""Rich progress bars for the run stages: ETA and the running pass rate; silent off a terminal."""

from __future__ import annotations


class RichProgress:
    """Implements uscd.run.progress.Progress; one bar per `start`."""

    def __init__(self, enabled: bool = True) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bars

        self.console = Console(stderr=True)
        self.bars = Bars(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("pass {task.fields[rate]}"),
            TextColumn("{task.fields[extra]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not enabled,
        )
        self.bar: int | None = None
        self.passed = self.executed = 0

    def __enter__(self) -> RichProgress:
        self.bars.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bars.__exit__(*exc)

    def start(self, label: str, total: int, done: int, passed: int = 0, executed: int = 0) -> None:
        self.passed, self.executed = passed, executed
        self.bar = self.bars.add_task(label, total=total, completed=done, rate=self._rate(), extra="")

    def advance(self, passed: bool | None, extra: str = "") -> None:
        if passed is not None:
            self.passed += passed
            self.executed += 1
        if self.bar is not None:
            self.bars.update(self.bar, advance=1, rate=self._rate(), extra=extra)

    def warn(self, message: str) -> None:
        from rich.markup import escape

        self.console.print(f"[yellow]warning:[/yellow] {escape(message)}", highlight=False)

    def _rate(self) -> str:
        if not self.executed:
            return "-"
        return f"{self.passed}/{self.executed} = {self.passed / self.executed:.1%}"
