"""Browser tests: Debian's chromium driven by Playwright against a real network on loopback.

The network (hub and store processes) comes from the e2e harness, ``tests/e2e/network.py``;
chromium is launched exactly as /work/shared/TESTING.md says (Playwright's own browser
download does not work on these machines). Screenshots of the screens land in
``test-artifacts/screenshots/``.
"""

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:  # the e2e harness is imported as the package ``e2e``
    sys.path.insert(0, str(TESTS))

from e2e.network import Network, StoreSpec, small_catalogue  # noqa: E402

from central_sync.services import console_users  # noqa: E402
from central_sync.store import HubDatabase  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = TESTS.parent / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1024, "height": 768}
#: Playwright's own waits (expect, wait_for): generous, the machine is shared
EXPECT_TIMEOUT_MS = 30_000

USER, PASSWORD, USER_NAME = "anne.martin", "correct horse battery", "Anne Martin"
# three stores at their cities' coordinates, so that the map places them where they are
STORES = (
    StoreSpec("PAR-01", 48.8566, 2.3522),
    StoreSpec("LYO-01", 45.7640, 4.8357),
    StoreSpec("BDX-01", 44.8378, -0.5792),
)
OPENING_STOCK = {
    "PAR-01": {"SKU-001": 4, "SKU-002": 6, "SKU-003": 3},
    "LYO-01": {"SKU-001": 7, "SKU-002": 2},
    "BDX-01": {"SKU-001": 1, "SKU-003": 5},
}
CATALOGUE = small_catalogue(8)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """One headless chromium for the whole run."""
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: install it with `apt-get update && apt-get install -y chromium`")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser) -> Iterator:
    """A fresh browser context (no cookies) at 1024x768, as on a small office screen or a tablet."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def screenshot(page) -> Callable[[str], Path]:
    """``screenshot("console-dashboard")`` saves the whole page as test-artifacts/screenshots/<name>.png."""

    def take(name: str, target=None) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        (target or page).screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture(scope="module")
def network(tmp_path_factory) -> Iterator[Network]:
    """A hub and three stores with stock, all synced, and a head-office console user."""
    net = Network(tmp_path_factory.mktemp("browser-net"), STORES, CATALOGUE)
    net.prepare()
    hub = HubDatabase(net.hub_db_path)
    try:
        console_users.add_user(hub, USER, USER_NAME, PASSWORD, actor="tests")
    finally:
        hub.close()
    try:
        net.start()
        for store_id, quantities in OPENING_STOCK.items():
            net.receive(store_id, quantities)
        net.wait_synced()
        yield net
    finally:
        net.stop()


def sign_in(page, net: Network, then: str = "/console/dashboard") -> None:
    """Sign in to the console with the keyboard only, as a user without a mouse would."""
    from playwright.sync_api import expect

    page.goto(f"{net.hub_url}/console/login")
    page.get_by_label("Identifiant").focus()  # the sign-in page opens in French
    page.keyboard.type(USER)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{net.hub_url}/console/dashboard")
    if then != "/console/dashboard":
        page.goto(net.hub_url + then)


def no_horizontal_overflow(page) -> None:
    """Nothing sticks out sideways: the page is no wider than the window."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width}px wide for a {page.viewport_size['width']}px window"
