"""The customer's order page in a real chromium: a click-and-collect order from intake to "I'm here".

The order goes in through the hub's API as a sales channel would post it; the pickup store
works it through its own JSON API (accept, pick by scanning barcodes, complete the pick,
stage it); the page follows through the hub once the store has synced.
"""

import pytest
from e2e.network import wait_until
from playwright.sync_api import expect

from .conftest import CATALOGUE, no_horizontal_overflow

pytestmark = pytest.mark.browser
BARCODE = {item.sku: item.barcodes[0] for item in CATALOGUE}


def test_click_and_collect_page_before_ready_then_ready_with_code_and_qr_then_im_here(page, network, screenshot):
    answer = network.place_order(
        "BROWSER-CC-1", {"SKU-003": 2}, kind="click_and_collect", pickup_store_id="PAR-01", channel="app"
    ).json()
    order_id, token = answer["order_id"], answer["public_token"]

    # before ready: the status in the customer's words, the pickup store, no code yet
    page.goto(f"{network.hub_url}/o/{token}")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("#headline")).to_have_text("En préparation")
    expect(page.get_by_test_id("pickup-store")).to_contain_text("Store PAR-01")
    expect(page.get_by_test_id("pickup-code")).to_have_count(0)
    expect(page.locator('.steps li[aria-current="step"]')).to_have_text("En préparation")
    screenshot("customer-before-ready")

    # the pickup store works the order through its own API
    assignment = network.wait_assignment("PAR-01", order_id)
    path = f"/api/assignments/{assignment['assignment_id']}"
    network.store_post("PAR-01", f"{path}/accept", {})
    for line in assignment["lines"]:
        for _unit in range(line["qty"]):
            network.store_post("PAR-01", f"{path}/scan", {"code": BARCODE[line["sku"]]})
    network.store_post("PAR-01", f"{path}/complete-pick", {})
    staged = network.store_post("PAR-01", f"{path}/ready", {})
    code = staged["pickup_code"]
    assert staged["status"] == "ready_for_pickup" and code

    # the page polls the hub: once the store has synced, the code shows, large and as a QR code
    expect(page.locator("#headline")).to_have_text("Prête à retirer")
    expect(page.get_by_test_id("pickup-code")).to_have_text(code)
    qr = page.get_by_test_id("pickup-qr").locator("svg")
    expect(qr).to_have_count(1)
    assert qr.bounding_box()["width"] >= 150  # big enough for a scanner at the counter
    font_px = page.get_by_test_id("pickup-code").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert font_px >= 36
    screenshot("customer-ready")

    # "I'm here": a confirmation for the customer, a kerbside message in the store's feed
    head_before = network.hub_stores()["PAR-01"]["feed_head"]
    page.get_by_label("Où êtes-vous ? (facultatif)").fill("voiture bleue, place 12")
    page.get_by_role("button", name="Je suis là").click()
    expect(page.get_by_test_id("arrived")).to_contain_text("Le magasin sait que vous êtes là")
    timeline = network.order(order_id)["timeline"]
    assert [e["detail"]["note"] for e in timeline if e["kind"] == "customer_arrived"] == ["voiture bleue, place 12"]
    assert network.hub_stores()["PAR-01"]["feed_head"] == head_before + 1
    wait_until(
        lambda: network.store_health("PAR-01")["feed_cursor"] >= head_before + 1,
        message="PAR-01 to take the kerbside message from its feed",
    )
    no_horizontal_overflow(page)
    screenshot("customer-arrived")

    # the customer's own language
    page.get_by_role("button", name="English").click()
    expect(page.locator("#headline")).to_have_text("Ready for pickup")
    expect(page.get_by_text("Your pickup code")).to_be_visible()
    screenshot("customer-ready-en")


def test_unknown_link_shows_a_helpful_page(page, network, screenshot):
    response = page.goto(f"{network.hub_url}/o/no-such-order-link")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Nous ne trouvons pas cette commande")
    screenshot("customer-not-found")


def test_customer_page_fits_a_phone(page, network, screenshot):
    answer = network.place_order(
        "BROWSER-CC-2", {"SKU-001": 1}, kind="click_and_collect", pickup_store_id="LYO-01"
    ).json()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{network.hub_url}/o/{answer['public_token']}")
    expect(page.get_by_test_id("pickup-store")).to_contain_text("Store LYO-01")
    no_horizontal_overflow(page)
    screenshot("customer-phone")
