"""The store terminal in a real chromium: till and stock screens, English, and working on with the hub down."""

import pytest
from playwright.sync_api import expect

from .conftest import no_horizontal_overflow
from .store_pages import BARCODE, expect_beep, scan, sign_in_terminal, terminal_url

pytestmark = pytest.mark.browser
STORE = "LYO-01"
#: the sync worker backs off while the hub is away (up to a minute): wait for it generously
RECONNECT_MS = 90_000


def test_stock_lookup_by_scan_and_by_name(page, network, screenshot):
    sign_in_terminal(page, network, STORE)
    page.get_by_role("link", name="Stock", exact=True).click()
    expect(page.get_by_label("Scannez un produit, ou tapez une référence ou un nom")).to_be_focused()
    scan(page, "Test product")
    rows = page.get_by_test_id("stock-results").locator("tbody tr")
    expect(rows).to_have_count(8)
    expect(page.locator('tr[data-sku="SKU-001"] td').last).to_have_text("7")  # LYO-01 holds 7 of SKU-001
    no_horizontal_overflow(page)
    screenshot("store-stock")
    scan(page, BARCODE["SKU-002"])  # a scan opens the product
    expect(page.get_by_test_id("stock-item")).to_have_attribute("data-sku", "SKU-002")
    expect(page.get_by_test_id("on-hand")).to_have_text("2")
    expect(page.get_by_test_id("movements")).to_contain_text("Réception de marchandises")
    screenshot("store-stock-item")


def test_the_terminal_speaks_english_for_who_asks(page, network, screenshot):
    sign_in_terminal(page, network, STORE, "M001", "1234")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Orders to work")
    page.goto(terminal_url(network, STORE, "/terminal/stock/SKU-001"))
    expect(page.get_by_test_id("stock-item")).to_contain_text("€1.99")
    screenshot("store-stock-item-en")
    page.get_by_role("button", name="Français").click()  # kept for the manager: put it back
    expect(page.locator("html")).to_have_attribute("lang", "fr")


def test_the_till_keeps_selling_with_the_hub_down_and_the_banner_says_so(page, network, screenshot):
    sign_in_terminal(page, network, STORE)
    banner = page.get_by_test_id("sync-banner")
    expect(banner).to_have_attribute("data-state", "online")
    page.get_by_role("link", name="Caisse").click()
    expect(page.get_by_label("Scannez un article")).to_be_focused()
    scan(page, BARCODE["SKU-001"])
    expect(page.get_by_test_id("basket").locator('tr[data-sku="SKU-001"]')).to_be_visible()
    expect_beep(page, "ok")
    no_horizontal_overflow(page)
    screenshot("store-till")
    page.get_by_role("button", name="Vider le panier").click()

    before = network.store_levels(STORE)["SKU-001"][0]
    network.stop_hub()
    try:
        # the banner notices by itself (htmx polling), no reload
        expect(banner).to_have_attribute("data-state", "offline")
        expect(page.get_by_test_id("sync-state")).to_have_text("Hors ligne")
        # a sale still goes through: scan twice, validate
        scan(page, BARCODE["SKU-001"])
        scan(page, BARCODE["SKU-001"])
        expect(page.get_by_test_id("basket").get_by_test_id("qty")).to_have_text("2")
        expect(page.get_by_test_id("total")).to_have_text("3,98\u00a0€")
        page.get_by_test_id("validate").click()
        expect(page.get_by_test_id("flash")).to_contain_text("Vente enregistrée : 3,98\u00a0€")
        expect(page.get_by_test_id("sync-banner")).to_have_attribute("data-state", "offline")
        expect(page.get_by_test_id("events-waiting")).to_contain_text("en attente d'envoi")
        assert network.store_levels(STORE)["SKU-001"][0] == before - 2
        screenshot("store-offline")
    finally:
        network.start_hub()
    expect(page.get_by_test_id("sync-banner")).to_have_attribute("data-state", "online", timeout=RECONNECT_MS)
    expect(page.get_by_test_id("events-waiting")).to_have_text("Rien en attente d'envoi", timeout=RECONNECT_MS)
    network.wait_synced([STORE])
    assert network.hub_levels("SKU-001")[(STORE, "SKU-001")][0] == before - 2
