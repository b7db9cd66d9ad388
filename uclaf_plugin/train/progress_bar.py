"""The training progress bar: one epoch's steps, the running loss, elapsed time and ETA (rich)."""

from __future__ import annotations


class ProgressBar:
    """A rich progress bar with ETA and the running loss; silent when ``quiet``."""

    def __init__(self, description: str, total: int, quiet: bool):
        self.description, self.total, self.quiet = description, total, quiet

    def __enter__(self):
        if not self.quiet:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=self.total, loss=float("nan"))
        return self

    def advance(self, steps: int, loss: float | None = None) -> None:
        if not self.quiet and steps:
            fields = {} if loss is None else {"loss": loss}
            self.bar.update(self.task, advance=steps, **fields)

    def __exit__(self, *exc):
        if not self.quiet:
            self.bar.stop()
        return False
