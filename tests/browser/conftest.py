"""Browser fixtures: one real cluster per module (the integration fixtures) and Debian's
headless Chromium, driven by Playwright's Python package at /usr/bin/chromium (Playwright
never downloads a browser here; `make test` installs Chromium from the distribution)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import *  # noqa: F403
from tools.bench_console import CHROMIUM_ARGS, chromium_path

ROOT = Path(__file__).resolve().parents[2]
# Each page the tests visit, as the browser drew it (build/ is not committed).
SCREENSHOTS = ROOT / "build" / "console-screenshots"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (no cookies) at a laptop's screen size."""
    made = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    made.set_default_timeout(20_000)
    try:
        yield made
    finally:
        made.close()
