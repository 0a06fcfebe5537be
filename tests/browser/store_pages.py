"""Helpers of the store terminal's browser tests: sign in, scan like a barcode scanner, read the beeps."""

from e2e.network import Network
from playwright.sync_api import Page, expect

from .conftest import CATALOGUE

BARCODE = {item.sku: item.barcodes[0] for item in CATALOGUE}


def terminal_url(net: Network, store_id: str, path: str = "/terminal/queue") -> str:
    return net.stores[store_id].url + path


def sign_in_terminal(page: Page, net: Network, store_id: str, code: str = "A001", pin: str = "1111") -> None:
    """Sign in with the keyboard only, as staff do at a terminal: code, Tab, PIN, Enter."""
    page.goto(terminal_url(net, store_id, "/terminal/signin"))
    expect(page.get_by_label("Code vendeur")).to_be_focused()  # French until someone signs in
    page.keyboard.type(code)
    page.keyboard.press("Tab")
    page.keyboard.type(pin)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("staff-name")).to_be_visible()


def scan(page: Page, code: str) -> None:
    """What a scanner does: type into whatever field has the focus, then Enter."""
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def beeps(page: Page) -> list[str]:
    """The sounds played so far on this page (terminal.js keeps their names)."""
    return page.evaluate("window.comptoirBeeps || []")


def expect_beep(page: Page, kind: str) -> None:
    """Wait (with Playwright's deadline) until the last sound played is ``kind``."""
    page.wait_for_function("k => (window.comptoirBeeps || []).slice(-1)[0] === k", arg=kind)
