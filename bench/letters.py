"""Letter rendering throughput on one core, against its target and a bare-ReportLab baseline.

    python bench/letters.py [--count 500] [--large-print] [--council sdc]

The baseline draws the same text on one page of a bare ReportLab canvas with the same embedded
TTF, at fixed positions, with no address rules, layout or letterhead: the ratio says what the
renderer's own work costs on top of the PDF library. Not a test: it prints, it never fails.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from collections.abc import Callable
from datetime import date

from reportlab.pdfgen.canvas import Canvas

from notifier.councils import load_councils
from notifier.letters import fonts, render_letter
from notifier.letters.geometry import PAGE_HEIGHT, PAGE_WIDTH
from notifier.messages import Block, Heading, LetterMessage, ListBlock, Paragraph

TARGET_PER_SECOND = 100.0
BLOCKS: tuple[Block, ...] = (
    Paragraph("Your reference is 24/01234/FUL."),
    Paragraph("We have your planning application for 10 High Street, Stratford-upon-Avon."),
    Heading(2, "What happens next"),
    ListBlock(
        (
            "We will check your plans and the documents you sent us.",
            "We will ask your neighbours and the town council what they think.",
            "We aim to make a decision by Monday 25 January 2027.",
        )
    ),
    Paragraph(
        "You do not need to do anything now. We will contact you when we have made a "
        "decision. If you have a question, call us and give your reference."
    ),
)


def sample_message(council: str, large_print: bool) -> LetterMessage:
    return LetterMessage(
        notification_id="bench",
        council=load_councils()[council],
        event_type="planning.application.received",
        address=("Flat 2", "10 High Street", "Stratford-upon-Avon", "CV37 6AA"),
        name="Alex Smith",
        title="We have your planning application",
        reference="24/01234/FUL",
        blocks=BLOCKS,
        date=date(2027, 1, 4),
        large_print=large_print,
    )


def bare_canvas(message: LetterMessage) -> Callable[[], bytes]:
    """One page of the letter's text drawn line by line at fixed positions."""
    lines = [*message.address, message.title, message.reference]
    for block in message.blocks:
        lines.extend(block.items if isinstance(block, ListBlock) else (block.text,))

    def draw() -> bytes:
        buffer = io.BytesIO()
        canvas = Canvas(
            buffer,
            pagesize=(PAGE_WIDTH, PAGE_HEIGHT),
            invariant=1,
            initialFontName=fonts.REGULAR,
        )
        canvas.setFont(fonts.REGULAR, 12)
        for n, line in enumerate(lines):
            canvas.drawString(57, PAGE_HEIGHT - 100 - 16 * n, line)
        canvas.showPage()
        canvas.save()
        return buffer.getvalue()

    return draw


def per_second(work: Callable[[], object], count: int) -> tuple[float, float]:
    """Calls per second over ``count`` calls, and the median milliseconds per call."""
    times = []
    start = time.perf_counter()
    for _ in range(count):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    elapsed = time.perf_counter() - start
    return count / elapsed, statistics.median(times) * 1000


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity here)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="letters to render (500)")
    parser.add_argument("--council", default="sdc", help="council code (sdc)")
    parser.add_argument("--large-print", action="store_true", help="render large print")
    args = parser.parse_args()

    print(f"letters: {pin_to_one_core()}, {args.count} letters, council {args.council}, "
          f"{'large print' if args.large_print else 'standard print'}")  # fmt: skip
    fonts.register()
    message = sample_message(args.council, args.large_print)
    baseline = bare_canvas(message)
    for _ in range(20):  # warm up caches and the allocator before timing
        render_letter(message)
        baseline()

    base_rate, base_ms = per_second(baseline, args.count)
    rate, ms = per_second(lambda: render_letter(message), args.count)
    pages = render_letter(message).pages
    verdict = "meets" if rate >= TARGET_PER_SECOND else "MISSES"
    print(f"baseline (bare canvas, one page): {base_rate:8.1f}/s  median {base_ms:.2f} ms")
    print(f"render_letter ({pages} page(s)):    {rate:8.1f}/s  median {ms:.2f} ms")
    print(f"target >= {TARGET_PER_SECOND:.0f}/s: {verdict} ({rate / TARGET_PER_SECOND:.1f}x)")
    print(f"ratio to baseline: {rate / base_rate:.2f} (1.00 = no cost over bare ReportLab)")


if __name__ == "__main__":
    main()
