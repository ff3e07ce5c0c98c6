"""The raw stream of an LLM answer on the terminal, before its verified version is printed.

Tokens go to stderr, dim and marked as unverified, so stdout holds only the verified answer
(and a pipe or ``--json`` never sees an unverified claim).
"""

from __future__ import annotations

import threading

from rich.console import Console
from rich.markup import escape


class TerminalStream:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.started = False
        self._lock = threading.Lock()

    def token(self, piece: str) -> None:
        with self._lock:
            if not self.started:
                self.started = True
                self.console.print("[dim](unverified, as the model writes it)[/dim] ", end="")
            self.console.print(f"[dim]{escape(piece)}[/dim]", end="")
            self.console.file.flush()

    def finish(self) -> None:
        """End the raw stream's line (the verified answer follows on stdout)."""
        with self._lock:
            if self.started:
                self.console.print()
                self.console.print("[dim](verified answer:)[/dim]")
            self.started = False
