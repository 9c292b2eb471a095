"""The reconciliation report in a real browser: Debian's Chromium, headless, offline, driven by Playwright.

It opens the page from a file with every network request refused, and checks that the chart's bars are
drawn, to scale, in their colours (in the pixels of a screenshot, not only in the DOM). Chromium is the
system's (``make setup`` installs it from Debian); Playwright's browser download is never used. No
Chromium is a failure, not a skip: CI must have it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import cast

import pytest
from PIL import Image
from playwright.async_api import Browser, BrowserType, Request, Route, async_playwright, expect

from q2c.domain.reconciliation import Row, Summary
from q2c.reports.reconciliation import BILLED_COLOUR, BOOKED_COLOUR, write_html
from tests.unit.test_reconciliation_report import EXPECTED_BARS, GENERATED_AT, quarter, record_url

CHROMIUM = Path(os.environ.get("Q2C_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT_COPY = Path("/tmp/reconciliation-report.png")


def hex_rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def pixels_of(png: Path, colour: str, tolerance: int = 6) -> int:
    """How many pixels of the screenshot are ``colour`` (give or take ``tolerance`` per channel)."""
    target = hex_rgb(colour)
    with Image.open(png) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 24) or []
    counts = cast(list[tuple[int, tuple[int, int, int]]], colours)  # RGB: a tuple of 3 per colour
    return sum(
        n for n, rgb in counts if all(abs(c - t) <= tolerance for c, t in zip(rgb, target, strict=True))
    )


def installed_chromium() -> Path:
    """The system's Chromium; without it the test fails (CI installs it with ``make setup``), never skips."""
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: `make setup` installs it from Debian "
            "(apt-get install chromium), or set Q2C_CHROMIUM to a Chromium binary. Never `playwright install`."
        )
    return CHROMIUM


async def launch(browser_type: BrowserType, executable: Path) -> Browser:
    return await browser_type.launch(executable_path=str(executable), headless=True, args=CHROMIUM_ARGS)


async def test_report_renders_offline_with_the_chart_to_scale(tmp_path: Path) -> None:
    chromium = installed_chromium()
    rows: list[Row]
    summary: Summary
    rows, summary = quarter()
    report = tmp_path / "reconciliation-2026-Q4.html"
    write_html(report, rows, summary, generated_at=GENERATED_AT, record_url=record_url)

    requested: list[str] = []  # everything the page asked for
    refused: list[str] = []  # what was not the report's own file
    problems: list[str] = []  # console errors (a CSP violation shows here) and page errors

    async def only_files(route: Route, request: Request) -> None:
        if request.url.startswith("file://"):
            await route.continue_()
        else:
            refused.append(request.url)
            await route.abort("blockedbyclient")

    async with async_playwright() as playwright:
        browser = await launch(playwright.chromium, chromium)
        try:
            context = await browser.new_context(
                offline=True, viewport={"width": 1280, "height": 900}, device_scale_factor=1
            )
            await context.route("**/*", only_files)
            page = await context.new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.on(
                "console",
                lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

            await page.goto(report.as_uri(), wait_until="load")
            await page.wait_for_selector("svg.chart-panel rect.bar", state="visible")
            await expect(page).to_have_title("Bookings vs billings 2026-Q4 (2026-10-01 to 2026-12-31)")
            await expect(page.locator("#chart svg.chart-panel")).to_have_count(3)

            # Every bar is there and drawn; in each panel height is proportional to amount.
            heights: dict[tuple[str, str, str], float] = {}
            for (panel, month), (booked, billed) in EXPECTED_BARS.items():
                for measure, amount in (("booked", booked), ("billed", billed)):
                    bar = page.locator(
                        f'rect.bar[data-panel="{panel}"][data-month="{month}"][data-measure="{measure}"]'
                    )
                    await expect(bar).to_have_count(1)
                    await expect(bar).to_be_visible()
                    await expect(bar).to_have_attribute("data-amount", amount)
                    box = await bar.bounding_box()
                    assert box is not None and box["width"] > 0 and box["height"] > 0, (
                        panel,
                        month,
                        measure,
                        box,
                    )
                    heights[(panel, month, measure)] = box["height"]
            for panel in {p for p, _ in EXPECTED_BARS}:
                scale = [
                    (heights[(p, m, measure)], float(EXPECTED_BARS[(p, m)][i]))
                    for (p, m) in EXPECTED_BARS
                    if p == panel
                    for i, measure in enumerate(("booked", "billed"))
                ]
                tallest, its_amount = max(scale)
                for height, value in scale:
                    assert abs(height - tallest * value / its_amount) <= 1.5, (panel, height, value)
                for (p, m), (booked, billed) in EXPECTED_BARS.items():
                    if p == panel and float(booked) > float(billed):
                        assert heights[(p, m, "booked")] > heights[(p, m, "billed")], (p, m)
            # The tooltip a person sees on hovering a bar.
            tooltip = page.locator(
                'rect.bar[data-panel="EUR"][data-month="2026-10"][data-measure="booked"] > title'
            )
            await expect(tooltip).to_have_text("Oct 2026 · Booked EUR 60,000.00")
            # What the escaping keeps as text, and the links to Salesforce.
            await expect(page.get_by_text("<script>alert(1)</script> & Co")).to_have_count(1)
            await expect(page.locator("tr.exception")).to_have_count(8)
            globex = "006Qz0000000002AAA"
            await expect(page.locator(f'tr.exception[data-opportunity="{globex}"] a')).to_have_attribute(
                "href", record_url(globex)
            )

            full = tmp_path / "reconciliation-report.png"
            chart = tmp_path / "reconciliation-chart.png"
            await page.screenshot(path=str(full), full_page=True)
            await page.locator("#chart").screenshot(path=str(chart))
        finally:
            await browser.close()

    shutil.copyfile(full, SCREENSHOT_COPY)
    assert requested and all(url.startswith("file://") for url in requested), requested
    assert refused == [], refused
    assert problems == [], problems
    with Image.open(full) as image:
        assert image.width == 1280 and image.height > 900  # the whole page, longer than the window
    booked_pixels, billed_pixels = pixels_of(chart, BOOKED_COLOUR), pixels_of(chart, BILLED_COLOUR)
    assert booked_pixels > 2000 and billed_pixels > 1000, (booked_pixels, billed_pixels)
