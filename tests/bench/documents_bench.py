"""The document benchmarks: a 100-page PDF's thumbnails (first, all, memory), one A4 page rendered at the
default image budget, and a 10-slide deck converted to PDF by LibreOffice with a new and a used profile.

The PDF figures are measured in a fresh process per run (`--probe`), so the first thumbnail is the
process's first and the memory growth is the document's alone:

    python -m tests.bench.documents_bench --probe
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.run import Figure

THUMBNAIL_SIDE = 192
PAGE_DPI = 200


def probe() -> dict[str, float | list[int]]:
    """One run: open, first thumbnail, every thumbnail, RSS, then an A4 page at the default budget."""
    import psutil

    from desktop.config.schema import DEFAULT_IMAGE_TOKEN_BUDGET
    from desktop.media.images import fit_to_budget
    from desktop.media.pdf import PdfDocument
    from tests.support.documents import make_pdf, text_pages

    data = make_pdf(text_pages(100))
    process = psutil.Process()
    rss_before = process.memory_info().rss
    started = time.perf_counter()
    document = PdfDocument.open(data, "hundred.pdf")
    thumbnails = [document.thumbnail(0, THUMBNAIL_SIDE)]
    first = time.perf_counter()
    thumbnails += [document.thumbnail(i, THUMBNAIL_SIDE) for i in range(1, document.page_count)]
    everything = time.perf_counter()
    rss_after = process.memory_info().rss
    width, height = document.page_size(0)
    size = fit_to_budget(round(width * PAGE_DPI / 72), round(height * PAGE_DPI / 72), DEFAULT_IMAGE_TOKEN_BUDGET)
    page_started = time.perf_counter()
    page = document.render(0, *size)
    page_ms = (time.perf_counter() - page_started) * 1000
    assert page.size == size and len(thumbnails) == 100
    document.close()
    return {"first_ms": (first - started) * 1000, "all_s": everything - started,
            "rss_growth_mb": (rss_after - rss_before) / 1e6, "page_ms": page_ms, "page_size": list(size)}


def bench_pdf(runs: int) -> list[Figure]:
    """The PDF figures over `runs` fresh processes."""
    from desktop.config.schema import DEFAULT_IMAGE_TOKEN_BUDGET

    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-m", "tests.bench.documents_bench", "--probe"],  # noqa: S603
                             capture_output=True, text=True, check=True, timeout=300)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    values = {key: [r[key] for r in results] for key in ("first_ms", "all_s", "rss_growth_mb", "page_ms")}
    width, height = results[0]["page_size"]
    return [
        Figure("100-page PDF → first thumbnail", "ms", values["first_ms"], "≤ 200 ms",
               f"open (no page loaded) + page 1 at {THUMBNAIL_SIDE} px; the process's first PDF, so loading "
               "pypdfium2 included"),
        Figure("100-page PDF → all thumbnails", "s", values["all_s"], "≤ 3 s",
               f"open + 100 pages at {THUMBNAIL_SIDE} px (A4, 20 lines of text and a filled block each), one thread"),
        Figure("RSS growth over 100 thumbnails", "MB", values["rss_growth_mb"], "≤ 100 MB",
               "the open document and the 100 thumbnails kept, against before opening"),
        Figure("A4 page at the default image budget", "ms", values["page_ms"], "≤ 100 ms",
               f"{PAGE_DPI} dpi fitted to the default {DEFAULT_IMAGE_TOKEN_BUDGET:,} tokens: {width}×{height} px, RGB"),
    ]


def bench_office(work: Path, runs: int) -> list[Figure]:
    """A 10-slide deck to PDF: a new LibreOffice profile each run, then the same profile again."""
    from desktop.media.office import convert_to_pdf, find_soffice
    from desktop.media.pdf import PdfDocument
    from tests.support.documents import SlideSpec, make_pptx

    soffice = find_soffice()
    if soffice is None:
        raise RuntimeError("LibreOffice (soffice) is not installed: the documents benchmark needs it")
    deck = make_pptx([SlideSpec(f"Slide {i + 1}: quarterly results", ((40 * i) % 256, 90, 200),
                                body=("Revenue rose in every region.", "Costs fell by 4 percent."))
                      for i in range(10)])
    cold, warm = [], []
    for run in range(runs):
        profile = work / f"office-profile-{run}"
        for kind in (cold, warm):
            started = time.monotonic()
            pdf = convert_to_pdf(deck, "results.pptx", profile_dir=profile, soffice=soffice)
            kind.append(time.monotonic() - started)
            with PdfDocument.open(pdf, "results.pdf") as document:
                assert document.page_count == 10
        shutil.rmtree(profile, ignore_errors=True)
    return [
        Figure("10-slide pptx → PDF, new LibreOffice profile", "s", cold, "report",
               "LibreOffice started with an empty profile folder (the first conversion ever, or after it was removed)"),
        Figure("10-slide pptx → PDF, LibreOffice profile made", "s", warm, "report",
               "the same again with the profile the run before made; LibreOffice is started anew for each file"),
    ]


def bench_documents(work: Path, runs: int, office_runs: int) -> list[Figure]:
    """Every document figure."""
    return bench_pdf(runs) + bench_office(work, office_runs)


def main() -> int:
    """`--probe`: one PDF measurement, printed as a JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--probe", action="store_true")
    args = parser.parse_args()
    if not args.probe:
        parser.error("run the benchmarks with `python -m tests.bench.run --only documents`")
    print(json.dumps(probe()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
