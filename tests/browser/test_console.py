"""The head-office console in a real chromium, against a real hub and real stores on loopback."""

import re

import pytest
from e2e.network import wait_until
from playwright.sync_api import expect

from .conftest import CATALOGUE, OPENING_STOCK, PASSWORD, STORES, no_horizontal_overflow, sign_in

pytestmark = pytest.mark.browser


def test_sign_in_refuses_a_wrong_password_then_lets_the_user_in(page, network, screenshot):
    page.goto(f"{network.hub_url}/console/stock")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))
    page.get_by_label("Identifiant").fill("anne.martin")
    page.get_by_label("Mot de passe").fill("wrong password")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("alert")).to_have_text("Identifiant ou mot de passe incorrect.")
    screenshot("console-sign-in")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_label("Mot de passe").press("Enter")
    expect(page).to_have_url(f"{network.hub_url}/console/stock")  # back to the page asked for


def test_dashboard_shows_every_store_its_state_and_one_map_dot_each(page, network, screenshot):
    sign_in(page, network)
    table = page.get_by_test_id("store-health")
    for spec in STORES:
        row = table.locator(f'tr[data-store-id="{spec.store_id}"]')
        expect(row).to_contain_text("En ligne")
    dots = page.locator('[data-testid="network-map"] g.store-dot')
    expect(dots).to_have_count(len(STORES))
    assert sorted(dots.evaluate_all("els => els.map(e => e.dataset.storeId)")) == sorted(s.store_id for s in STORES)
    expect(page.locator('[data-testid="network-map"] g.store-dot.online')).to_have_count(len(STORES))
    expect(page.get_by_test_id("online-count")).to_have_text("3 / 3")
    # the dots sit where the cities are: Paris north of Lyon, Bordeaux west of both
    at = {s.store_id: page.locator(f'g.store-dot[data-store-id="{s.store_id}"]').bounding_box() for s in STORES}
    assert at["PAR-01"]["y"] < at["LYO-01"]["y"] and at["BDX-01"]["x"] < at["PAR-01"]["x"] < at["LYO-01"]["x"]
    no_horizontal_overflow(page)
    screenshot("console-dashboard")


def test_dashboard_refreshes_itself_when_a_store_goes_offline(page, network, screenshot):
    sign_in(page, network)
    network.set_setting("fresh_seconds", 2)
    try:
        network.stop_store("BDX-01")
        # no reload: htmx polls the live part of the page
        expect(page.locator('g.store-dot.offline[data-store-id="BDX-01"]')).to_have_count(1)
        expect(page.get_by_test_id("store-health").locator('tr[data-store-id="BDX-01"]')).to_contain_text("Hors ligne")
        expect(page.get_by_test_id("online-count")).to_have_text("2 / 3")
        screenshot("console-dashboard-store-offline")
    finally:
        network.set_setting("fresh_seconds", 120)
        network.start_store("BDX-01")
    expect(page.get_by_test_id("online-count")).to_have_text("3 / 3")


def test_stock_search_by_barcode_lists_every_store(page, network, screenshot):
    sign_in(page, network, "/console/stock")
    item = CATALOGUE[0]
    search = page.get_by_label("Référence, nom du produit ou code-barres")
    expect(search).to_be_focused()  # ready for a scanner acting as a keyboard
    page.keyboard.type(item.barcodes[0])
    page.keyboard.press("Enter")
    found = page.locator(f'section.stock-item[data-sku="{item.sku}"]')
    expect(found).to_have_count(1)
    expect(found.locator("h2")).to_contain_text(item.name)
    expect(found.locator("h2")).to_contain_text("1,99\u00a0€")
    rows = found.locator("tbody tr")
    expect(rows).to_have_count(len(STORES))
    for spec in STORES:
        on_hand = OPENING_STOCK[spec.store_id].get(item.sku, 0)
        expect(found.locator(f'tr[data-store-id="{spec.store_id}"] td').first).to_have_text(str(on_hand))
    total = sum(stock.get(item.sku, 0) for stock in OPENING_STOCK.values())
    expect(found.locator("tfoot td").first).to_have_text(str(total))
    no_horizontal_overflow(page)
    screenshot("console-stock")


def test_order_from_the_api_is_found_and_shows_why_it_was_routed(page, network, screenshot):
    answer = network.place_order("BROWSER-1001", {"SKU-002": 2}, destination=(48.80, 2.30), channel="web").json()
    order_id = answer["order_id"]
    sign_in(page, network, "/console/orders")
    page.get_by_label("N° de commande, n° du canal, canal ou client").fill("BROWSER-1001")
    page.keyboard.press("Enter")
    link = page.get_by_role("link", name=order_id)
    expect(link).to_be_visible()
    link.click()
    expect(page.locator("h1")).to_contain_text(order_id)
    reasons = page.get_by_test_id("reasons").locator("li")
    expect(reasons.first).to_contain_text("PAR-01")  # the nearest store that has it, and why
    timeline = page.get_by_test_id("timeline")
    for kind in ("received", "routed", "assigned"):
        expect(timeline.locator(f'tr[data-kind="{kind}"]').first).to_be_visible()
    expect(page.get_by_test_id("assignments")).to_contain_text("PAR-01")
    # the store confirms it holds the assignment: its step shows once the hub has it from sync
    wait_until(
        lambda: [
            e for e in network.order(order_id)["timeline"] if e["store_id"] == "PAR-01" and "store_at" in e["detail"]
        ],
        message="PAR-01 to confirm it holds the assignment",
    )
    page.reload()
    expect(timeline).to_contain_text("Reçue par le magasin")
    no_horizontal_overflow(page)
    screenshot("console-order")


def test_store_settings_are_saved_from_the_form_and_audited(page, network, screenshot):
    sign_in(page, network, "/console/stores")
    card = page.locator('form[data-store-id="LYO-01"]')
    capacity = card.get_by_label("Capacité journalière")
    capacity.fill("150")
    card.get_by_label("Horaires d'ouverture").fill("Lun-Ven 10:00-19:00")
    card.get_by_role("button", name="Enregistrer LYO-01").click()
    expect(page.get_by_role("status")).to_contain_text("Réglages de LYO-01 enregistrés.")
    expect(page.locator('form[data-store-id="LYO-01"]').get_by_label("Capacité journalière")).to_have_value("150")
    wait_until(lambda: network.hub_stores()["LYO-01"]["daily_capacity"] == 150, message="capacity at the hub")
    screenshot("console-settings")
    page.get_by_role("link", name="Journal des modifications").click()
    expect(page.get_by_test_id("audit").locator('tr[data-action="store.settings"]').first).to_contain_text("LYO-01")
    screenshot("console-audit")


def test_console_speaks_english_when_asked(page, network, screenshot):
    sign_in(page, network)
    page.get_by_role("button", name="English").click()
    expect(page.locator("h1")).to_have_text("Network of stores")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    screenshot("console-dashboard-en")
    page.goto(f"{network.hub_url}/console/stock?q=SKU-001")
    expect(page.locator("section.stock-item h2").first).to_contain_text("€1.99")
    page.get_by_role("button", name="Français").click()  # the user's choice is kept: put it back
    expect(page.locator("html")).to_have_attribute("lang", "fr")
