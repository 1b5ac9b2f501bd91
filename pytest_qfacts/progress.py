"""Progress for long work (loading, quantizing, scoring), shown past pytest's capture; silent under -q."""
from __future__ import annotations

import contextlib
import sys
import time


class Progress:
    def __init__(self, config=None, quiet: bool = False):
        self.config = config
        self.quiet = quiet

    @contextlib.contextmanager
    def _uncaptured(self):
        capman = self.config.pluginmanager.getplugin("capturemanager") if self.config is not None else None
        if capman is None:
            yield
            return
        with capman.global_and_fixture_disabled():
            yield

    def note(self, message: str) -> None:
        if self.quiet:
            return
        with self._uncaptured():
            sys.stderr.write(f"\nqfacts: {message}\n")
            sys.stderr.flush()

    @contextlib.contextmanager
    def step(self, message: str):
        """``with progress.step("loading X"):`` prints the message, then the seconds it took."""
        started = time.perf_counter()
        self.note(message + " ...")
        yield
        self.note(f"{message}: done in {time.perf_counter() - started:.1f} s")

    @contextlib.contextmanager
    def bar(self, total: int, desc: str):
        """Yield an ``update(n)`` callable driving a tqdm bar on stderr."""
        if self.quiet or total <= 0:
            yield lambda n: None
            return
        from tqdm import tqdm

        with self._uncaptured(), tqdm(total=total, desc=f"qfacts: {desc}", unit="fact", file=sys.stderr, leave=False,
                                      mininterval=0.5 if sys.stderr.isatty() else 5.0) as bar:
            yield bar.update
