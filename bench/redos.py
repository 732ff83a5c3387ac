"""ReDoS benchmark: ``Like`` patterns match in time linear in the value's length.

    python bench/redos.py            # prints the tables, takes a few seconds

1. Patterns durian accepts, on RE2, for values from 10 KB to 10 MB: the time per MB stays flat.
   ``a[ab]{20}c`` on random a/b text is RE2's worst case (its DFA would need 2**20 states, so RE2
   falls back to its NFA); ``\\w*\\w*\\w*\\w*\\w*\\w*!`` is polynomial-catastrophic for Python's ``re``.
2. Nested repetition, ``(x+x+)+y``, which durian refuses at creation: Python's ``re`` doubles its
   time with every extra character (shown only on sizes that finish), while RE2 stays linear.
3. The accepted ``\\w*...!`` on Python's ``re``: polynomial blow-up on forty characters;
   RE2 does a megabyte in about a millisecond. This is why durian never matches with ``re``.
"""

from __future__ import annotations

import os
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(INSTALLED_APPS=[], USE_TZ=True)
    django.setup()

import re2  # noqa: E402

from durian.match import _OPTIONS, compile_pattern  # noqa: E402


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def accepted_patterns_stay_linear() -> None:
    rng = random.Random(7)
    sizes = [10_000, 100_000, 1_000_000, 10_000_000]
    text = "".join(rng.choice("ab") for _ in range(sizes[-1]))
    words = "a" * sizes[-1]
    cases = [
        ("a[ab]{20}c", text, "random a/b"),
        (r"\w*\w*\w*\w*\w*\w*!", words, "a...a"),
        (r"^[A-Z][a-z]+ [A-Z]", text, "random a/b"),
    ]
    print("1. Patterns durian accepts, matched with RE2 (google-re2)")
    print(f"{'pattern':<24} {'value':<11} {'size':>10} {'seconds':>10} {'ms per MB':>10}")
    for pattern, value, label in cases:
        compiled = compile_pattern(pattern, "name")
        for n in sizes:
            chunk = value[:n]
            seconds = timed(lambda compiled=compiled, chunk=chunk: compiled.search(chunk))
            print(f"{pattern:<24} {label:<11} {n:>10,} {seconds:>10.5f} {seconds * 1000 / (n / 1e6):>10.3f}")
    print()


def python_re_vs_re2(title: str, pattern: str, letter: str, sizes: list[int], safe: int) -> None:
    """Both engines on ``letter * n``; Python's ``re`` only up to ``safe`` and a time budget."""
    print(title)
    print(f"{'n':>10} {'python re (s)':>14} {'re2 (s)':>10}")
    python = re.compile(pattern)
    engine = re2.compile(pattern, _OPTIONS)
    limit = float(os.environ.get("REDOS_PYTHON_BUDGET", "1.5"))
    too_slow = False
    for n in sizes:
        value = letter * n
        if too_slow or n > safe:
            py_text = "(too slow)"
        else:
            py = timed(lambda value=value: python.search(value), repeat=1)
            py_text = f"{py:.5f}"
            too_slow = py > limit
        r2 = timed(lambda value=value: engine.search(value))
        print(f"{n:>10,} {py_text:>14} {r2:>10.6f}")
    print()


if __name__ == "__main__":
    accepted_patterns_stay_linear()
    python_re_vs_re2(
        "2. '(x+x+)+y', refused by durian: Python re (exponential) vs RE2 on 'x' * n",
        "(x+x+)+y",
        "x",
        [14, 16, 18, 20, 22, 24, 1_000, 1_000_000],
        safe=24,
    )
    python_re_vs_re2(
        "3. '\\w*\\w*\\w*\\w*\\w*\\w*!', accepted by durian: Python re (polynomial, n**6) vs RE2 on 'a' * n",
        r"\w*\w*\w*\w*\w*\w*!",
        "a",
        [10, 20, 30, 40, 1_000, 1_000_000],
        safe=40,
    )
