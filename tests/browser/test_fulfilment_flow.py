"""Orders worked end to end on the store terminal in a real chromium, against a real hub and real stores.

A click-and-collect order posted through the hub's API is accepted, picked by typing barcodes into
the scan field (a wrong item refused with the expected SKU), staged, seen "ready" with its code on
the customer's page, and handed over at the counter against the code (a wrong code refused first);
the head-office console shows every step. A ship-from-store order is picked, packed with a tracking
number, its label printed and shipped.
"""

import re

import pytest
from e2e.network import wait_until
from playwright.sync_api import expect

from .conftest import no_horizontal_overflow, sign_in
from .store_pages import BARCODE, beeps, expect_beep, scan, sign_in_terminal, terminal_url

pytestmark = pytest.mark.browser
STORE = "PAR-01"


def test_click_and_collect_from_the_queue_to_the_hand_over(page, network, screenshot):
    answer = network.place_order(
        "TERM-CC-1", {"SKU-001": 1, "SKU-002": 2}, kind="click_and_collect", pickup_store_id=STORE, channel="web"
    ).json()
    order_id, token = answer["order_id"], answer["public_token"]
    network.wait_assignment(STORE, order_id)

    # sign in (keyboard only), the order is in the queue
    page.goto(terminal_url(network, STORE, "/terminal/signin"))
    screenshot("store-sign-in")
    sign_in_terminal(page, network, STORE)
    row = page.locator(f'tr[data-order-id="{order_id}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("Test Customer")
    expect(row).to_contain_text("Retrait en magasin")
    expect(row.locator("time.countdown")).to_have_text(re.compile(r"^\d+:\d\d:\d\d$"))
    expect(page.get_by_test_id("sync-banner")).to_have_attribute("data-state", "online")
    no_horizontal_overflow(page)
    screenshot("store-queue")

    # accept: straight to the pick list, the scan field ready for the scanner
    row.get_by_role("link", name="Accepter ou refuser").click()
    page.get_by_test_id("accept").click()
    expect(page.locator("h1")).to_contain_text(f"Préparer la commande {order_id}")
    scan_field = page.get_by_label("Scannez un article")
    expect(scan_field).to_be_focused()
    expect(page.get_by_test_id("pick-list").locator("tr.location")).to_have_count(2)  # grouped by location

    # a wrong item: red, the expected SKUs named, a low buzz; nothing picked
    scan(page, BARCODE["SKU-004"])
    feedback = page.get_by_test_id("feedback")
    expect(feedback).to_have_attribute("data-feedback", "wrong")
    expect(feedback).to_contain_text("Mauvais article : vous avez scanné SKU-004, attendu SKU-001, SKU-002.")
    expect_beep(page, "wrong")
    expect(scan_field).to_be_focused()
    screenshot("store-pick-wrong")

    # the right ones: green with a high beep, then done with a chime; two scans in a row lose nothing
    scan(page, BARCODE["SKU-001"])
    expect(feedback).to_have_attribute("data-feedback", "ok")
    expect_beep(page, "ok")
    expect(page.locator('tr[data-sku="SKU-001"] [data-testid="picked"]')).to_contain_text("1")
    screenshot("store-pick-right")
    scan(page, BARCODE["SKU-002"])
    scan(page, BARCODE["SKU-002"])
    expect(feedback).to_have_attribute("data-feedback", "done")
    expect_beep(page, "done")
    assert beeps(page) == ["wrong", "ok", "ok", "done"]
    expect(page.get_by_test_id("progress")).to_contain_text("3 article(s) prélevé(s) sur 3")
    expect(scan_field).to_be_focused()
    screenshot("store-pick-done")

    # complete the pick, stage for pickup: the code is shown
    page.get_by_test_id("complete-pick").click()
    page.get_by_test_id("make-ready").click()
    code_box = page.get_by_test_id("pickup-code")
    expect(code_box).to_have_text(re.compile(r"^[2-9A-Z]{6}$"))
    code = code_box.inner_text()

    # the customer's page, through the hub, once the store has synced
    customer = page.context.new_page()
    customer.goto(f"{network.hub_url}/o/{token}")
    expect(customer.locator("#headline")).to_have_text("Prête à retirer")
    expect(customer.get_by_test_id("pickup-code")).to_have_text(code)
    customer.close()

    # the counter: a wrong code is refused clearly, the right one finds the order
    page.get_by_role("link", name="Retraits").click()
    counter_field = page.get_by_label("Code de retrait du client")
    expect(counter_field).to_be_focused()
    scan(page, "ZZZZZZ")
    refused = page.get_by_test_id("refused")
    expect(refused).to_contain_text("Aucune commande prête à retirer avec le code ZZZZZZ")
    expect_beep(page, "wrong")
    screenshot("store-counter-wrong-code")
    page.get_by_label("Code de retrait du client").fill(code.lower())
    page.keyboard.press("Enter")
    found = page.get_by_test_id("counter-order")
    expect(found).to_contain_text("Test Customer")
    expect(found).to_contain_text("SKU-002")
    screenshot("store-counter")
    found.get_by_test_id("hand-over").click()
    expect(page.get_by_test_id("flash")).to_contain_text(f"Remise à Test Customer (commande {order_id}).")

    # the console's timeline shows every step, each under the staff member's code
    def steps() -> list[str]:
        timeline = network.order(order_id)["timeline"]
        return [e["kind"] for e in timeline]

    wait_until(lambda: "collected" in steps(), message="the hand-over at the hub")
    console = page.context.new_page()
    sign_in(console, network, f"/console/orders/{order_id}")
    timeline = console.get_by_test_id("timeline")
    for kind in ("received", "routed", "assigned", "accepted", "picked", "ready_for_pickup", "collected"):
        expect(timeline.locator(f'tr[data-kind="{kind}"]').first).to_be_visible()
    for event in network.order(order_id)["timeline"]:
        if event["kind"] in ("accepted", "picked", "ready_for_pickup", "collected"):
            assert event["detail"]["staff"] == "A001", event
    console.close()


def test_ship_from_store_is_picked_packed_labelled_and_shipped(page, network, screenshot):
    body = {
        "channel": "web",
        "channel_order_id": "TERM-SFS-1",
        "kind": "ship_from_store",
        "lines": [{"sku": "SKU-002", "qty": 1}],
        "customer": {"name": "Léa Petit", "email": "lea@example.org"},
        "destination": {"lat": 48.85, "lon": 2.34},
        "ship_to": {"name": "Léa Petit", "address": "12 rue de Rivoli", "postal_code": "75004", "city": "Paris"},
    }
    order_id = network.hub_post("/api/orders", body, headers=network.channel_headers)["order_id"]
    network.wait_assignment(STORE, order_id)
    sign_in_terminal(page, network, STORE)
    page.locator(f'tr[data-order-id="{order_id}"]').get_by_role("link", name="Accepter ou refuser").click()
    page.get_by_test_id("accept").click()
    expect(page.get_by_label("Scannez un article")).to_be_focused()  # the pick page is there
    scan(page, BARCODE["SKU-002"])
    expect(page.get_by_test_id("feedback")).to_contain_text("Tout est prélevé")
    page.get_by_test_id("complete-pick").click()

    # pack: two parcels, typed with the keyboard
    expect(page.locator("h1")).to_contain_text(f"Emballer la commande {order_id}")
    page.get_by_label("Poids (g)").fill("850")
    page.get_by_label("Transporteur").fill("Colissimo")
    page.get_by_label("Numéro de suivi").fill("6A00000000017")
    page.get_by_role("button", name="Ajouter un colis").click()
    second = page.locator('fieldset[data-parcel="1"]')
    expect(second.get_by_label("Numéro de suivi")).to_be_focused()
    second.get_by_label("Poids (g)").fill("400")
    second.get_by_label("Transporteur").fill("Colissimo")
    second.get_by_label("Numéro de suivi").fill("6A00000000024")
    no_horizontal_overflow(page)
    screenshot("store-pack")
    page.get_by_test_id("pack").click()
    expect(page.get_by_test_id("flash")).to_contain_text("Emballée en 2 colis")

    # the label page: one A6 label per parcel, the tracking number large
    label_url = page.get_by_test_id("label-link").first.get_attribute("href")
    labels = page.context.new_page()
    labels.goto(network.stores[STORE].url + label_url)
    expect(labels.get_by_test_id("tracking-number")).to_have_text(["6A00000000017", "6A00000000024"])
    expect(labels.get_by_test_id("label").first).to_contain_text("75004 Paris")
    labels.set_viewport_size({"width": 1024, "height": 768})
    screenshot("store-label", labels)
    labels.emulate_media(media="print")
    expect(labels.get_by_role("button", name="Imprimer")).to_be_hidden()
    labels.close()

    page.get_by_test_id("ship").click()
    expect(page.get_by_test_id("status").first).to_have_attribute("data-status", "shipped")
    wait_until(lambda: network.order(order_id)["status"] == "shipped", message="the order shipped at the hub")
