"""Workloads for the benchmarks: a long realistic markdown answer, and a recorded stream of it."""

from __future__ import annotations

import random

_WORDS = (
    "the", "model", "reads", "the", "screenshot", "and", "finds", "the", "error", "dialog", "near", "the",
    "top", "of", "the", "window", "while", "the", "user", "asks", "why", "the", "build", "fails", "and",
    "which", "setting", "changes", "the", "output", "folder", "for", "every", "target",
)


def markdown_answer(tokens: int, seed: int = 7) -> str:
    """About `tokens` words of markdown: paragraphs, lists, code blocks, a table, inline math."""
    rng = random.Random(seed)
    parts: list[str] = []
    count = 0
    section = 0
    while count < tokens:
        section += 1
        kind = section % 5
        if kind == 0:
            lines = [f"def step_{section}(items: list[int]) -> int:", "    total = 0", "    for item in items:",
                     "        total += item * 2", "    return total"]
            parts.append("```python\n" + "\n".join(lines) + "\n```")
            count += 30
        elif kind == 1:
            parts.append(f"### Part {section}")
            count += 3
        elif kind == 2:
            parts.append("\n".join(f"{i}. " + " ".join(rng.choices(_WORDS, k=9)) for i in range(1, 5)))
            count += 40
        elif kind == 3:
            parts.append("| setting | value |\n|---|---|\n| output | `build/` |\n| jobs | 4 |")
            count += 16
        else:
            sentence = " ".join(rng.choices(_WORDS, k=60))
            parts.append(f"{sentence.capitalize()} with cost $O(n \\log n)$ and **bold** words.")
            count += 70
    return "\n\n".join(parts)
