"""The head-office planning screens through Flask's test client on a real SQLite file: rebalancing (limits,
run, proposals with reasons, quantities, approve / reject through the form with its CSRF token, links to
the transfers) and the demand forecast, in French and in English.

The network is the hand-checked one of rebalancing_network.py (see test_rebalancing_service.py).
"""

import html as html_lib
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rebalancing_network import LAMP, TENT, A, B, C, HubNetwork

from central_sync.entrypoints.app import create_app
from central_sync.services import console_users, rebalancing, transfers

USER, PASSWORD = "anne.martin", "correct horse battery"
PAGES = ["/console/rebalancing", "/console/forecast"]


@pytest.fixture
def hub_app(tmp_path) -> Iterator[Flask]:
    app = create_app(tmp_path / "hub.sqlite")
    app.config["TESTING"] = True
    yield app
    app.extensions["hub_db"].close()


@pytest.fixture
def net(hub_app) -> HubNetwork:
    db = hub_app.extensions["hub_db"]
    console_users.add_user(db, USER, "Anne Martin", PASSWORD)
    return HubNetwork(db)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token in the page"
    return found.group(1)


@pytest.fixture
def console(hub_app, net) -> FlaskClient:
    client = hub_app.test_client()
    token = csrf_of(client.get("/console/login").get_data(as_text=True))
    answer = client.post("/console/login", data={"csrf_token": token, "username": USER, "password": PASSWORD})
    assert answer.status_code == 303
    return client


def text(answer) -> str:
    return html_lib.unescape(answer.get_data(as_text=True)).replace("\u202f", " ").replace("\u00a0", " ")


def plain(answer) -> str:
    """The page's words without its tags, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", text(answer)).split()).replace(" :", " :")


def post_form(client: FlaskClient, path: str, data: dict, page: str = "/console/rebalancing"):
    """Submit a form as a browser does: with the CSRF token of the page it came from."""
    token = csrf_of(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def set_language(client: FlaskClient, language: str) -> None:
    token = csrf_of(client.get("/console/rebalancing").get_data(as_text=True))
    answer = client.post("/language", data={"csrf_token": token, "language": language, "next": "/console/rebalancing"})
    assert answer.status_code == 303


LIMITS = {"horizon_days": "7", "lookback_days": "56", "min_transfer_qty": "1", "max_transfers_per_store_per_day": "",
          "max_distance_km": "", "excluded_skus": ""}  # fmt: skip


def start_run(client: FlaskClient, **changes) -> str:
    answer = post_form(client, "/console/rebalancing/runs", {**LIMITS, **changes})
    assert answer.status_code == 303, text(answer)
    return re.search(r"run=([^#&]+)", answer.location).group(1)


def rows(page: str) -> dict[str, dict]:
    """The proposals table: per 'SOURCE>DEST SKU', its id, status and quantity field."""
    found = {}
    for row in re.findall(r'<tr data-proposal-id="(\d+)" data-status="(\w+)">(.*?)</tr>', page, re.S):
        pid, status, cells = row
        stores = re.findall(r'<span class="mono">([A-Z]-\d\d)</span>', cells)
        sku = re.search(r'<td class="mono">(\w+)</td>', cells).group(1)
        found[f"{stores[0]}>{stores[1]} {sku}"] = {"id": pid, "status": status, "cells": cells}
    return found


# ------------------------------------------------------------------ sign-in, language
@pytest.mark.parametrize("page", PAGES)
def test_planning_pages_need_a_signed_in_user(hub_app, net, page):
    answer = hub_app.test_client().get(page)
    assert answer.status_code == 302 and answer.location.startswith("/console/login?next=")


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fr", {"title": "Rééquilibrage du stock entre magasins", "nav": "Prévision", "run": "Enregistrer les limites",
                "reasons": "Pourquoi", "forecast": "Prévision de la demande", "naive": "Erreur naïve",
                "short": "Besoin qu'aucun transfert ne couvre", "twenty": "20,0"}),
        ("en", {"title": "Stock rebalancing between stores", "nav": "Forecast", "run": "Save the limits",
                "reasons": "Why", "forecast": "Demand forecast", "naive": "Naive error",
                "short": "Need no transfer covers", "twenty": "20.0"}),
    ],
)  # fmt: skip
def test_pages_render_in_french_and_in_english(console, language, words):
    set_language(console, language)
    empty = text(console.get("/console/rebalancing"))
    assert f'<html lang="{language}">' in empty and words["title"] in empty and words["run"] in empty
    assert 'aria-current="page">' + ("Rééquilibrage" if language == "fr" else "Rebalancing") in empty
    start_run(console)
    page = text(console.get("/console/rebalancing"))
    assert words["reasons"] in page and words["short"] in page
    assert len(rows(page)) == 4
    assert "C-01 needs 15 for its 7-day forecast (20)" in page  # the domain's reason, as is
    forecast = text(console.get(f"/console/forecast?q={TENT}"))
    assert words["forecast"] in forecast and words["naive"] in forecast and words["nav"] in forecast
    table = forecast.split(f'data-testid="forecast-{TENT}"')[1].split("</table>")[0]
    assert table.count("<tr data-store-id=") == 2 and f"<strong>{words['twenty']}</strong>" in table
    assert 'data-testid="network-accuracy"' in forecast


# ------------------------------------------------------------------ rebalancing through the forms
def test_a_run_through_the_form_saves_the_limits_and_shows_the_proposals_with_reasons(console, net):
    run_id = start_run(console, min_transfer_qty="7", excluded_stores=B)
    db = net.db
    assert rebalancing.saved_limits(db)["min_transfer_qty"] == 7
    assert rebalancing.saved_limits(db)["excluded_stores"] == [B]
    page = text(console.get(f"/console/rebalancing?run={run_id}"))
    # with B-01 left out and lines of at least 7: A-01 sends C-01 its 15 TENT (LAMP: 6 < 7)
    assert list(rows(page)) == [f"{A}>{C} {TENT}"]
    assert re.search(r'name="qty-\d+" value="15"', page)
    assert "1 ligne(s) de transfert proposée(s). Vérifiez-les, puis approuvez ou refusez." in page
    # the form shows the saved limits back
    assert re.search(r'id="limits-min_transfer_qty" name="min_transfer_qty"[^>]*value="7"', page)
    assert re.search(rf'value="{B}" checked', page)
    actions = [a["action"] for a in db.reader().audit_trail()]
    assert "rebalancing.run" in actions and "rebalancing.limits" in actions
    assert "Limites de rééquilibrage modifiées" in text(console.get("/console/audit"))


def test_approving_through_the_form_creates_one_transfer_per_pair_linked_from_the_page(console, net):
    run_id = start_run(console)
    page = console.get(f"/console/rebalancing?run={run_id}").get_data(as_text=True)
    lines = rows(page)
    ab = [lines[f"{A}>{B} {LAMP}"]["id"], lines[f"{A}>{B} {TENT}"]["id"]]
    ac_tent = lines[f"{A}>{C} {TENT}"]["id"]
    form = {"action": "approve", "proposal_ids": ab, f"qty-{ab[1]}": "4", f"qty-{ac_tent}": "9"}
    answer = post_form(console, f"/console/rebalancing/runs/{run_id}", form, f"/console/rebalancing?run={run_id}")
    assert answer.status_code == 303, text(answer)
    [made] = [t for t in transfers.transfer_list(net.db) if t["destination_store_id"] == B]
    assert sorted((ln["sku"], ln["qty"]) for ln in made["lines"]) == [(LAMP, 5), (TENT, 4)]
    page = text(console.get(f"/console/rebalancing?run={run_id}"))
    assert "Approuvé : 1 transfert(s) créé(s)." in page
    assert f'href="/console/orders/{made["order_id"]}"' in page
    after = rows(page)
    assert after[f"{A}>{B} {TENT}"]["status"] == "approved"
    # the unselected line's new quantity was saved too, and it stays open
    assert after[f"{A}>{C} {TENT}"]["status"] == "edited" and 'value="9"' in after[f"{A}>{C} {TENT}"]["cells"]
    audit = net.db.reader().audit_trail()
    assert any(a["action"] == "rebalancing.approved" and a["actor"] == USER for a in audit)
    # approving the same lines again makes nothing new
    post_form(console, f"/console/rebalancing/runs/{run_id}", {"action": "approve", "proposal_ids": ab},
              f"/console/rebalancing?run={run_id}")  # fmt: skip
    assert len(transfers.transfer_list(net.db)) == 1


def test_rejecting_and_refusals_through_the_form(console, net):
    run_id = start_run(console)
    page_path = f"/console/rebalancing?run={run_id}"
    lines = rows(console.get(page_path).get_data(as_text=True))
    ac_lamp, ac_tent = lines[f"{A}>{C} {LAMP}"]["id"], lines[f"{A}>{C} {TENT}"]["id"]
    answer = post_form(console, f"/console/rebalancing/runs/{run_id}", {"action": "reject", "proposal_ids": [ac_lamp]},
                       page_path)  # fmt: skip
    assert answer.status_code == 303
    assert rows(console.get(page_path).get_data(as_text=True))[f"{A}>{C} {LAMP}"]["status"] == "rejected"
    # a rejected line cannot be approved (a forged form): refused, said, nothing made
    answer = post_form(console, f"/console/rebalancing/runs/{run_id}",
                       {"action": "approve", "proposal_ids": [ac_lamp, ac_tent]}, page_path)  # fmt: skip
    assert answer.status_code == 409 and f"proposal {ac_lamp} was rejected" in text(answer)
    assert transfers.transfer_list(net.db) == []
    # bad quantities and an empty selection are named, and nothing is saved
    answer = post_form(console, f"/console/rebalancing/runs/{run_id}",
                       {"action": "approve", f"qty-{ac_tent}": "zéro"}, page_path)  # fmt: skip
    page = plain(answer)
    assert answer.status_code == 400 and "Rien n'a été enregistré" in page
    assert f"Quantité de la ligne {ac_tent} : doit être un nombre entier de 1 à" in page
    assert "Lignes sélectionnées : sélectionnez au moins une ligne" in page
    assert rows(console.get(page_path).get_data(as_text=True))[f"{A}>{C} {TENT}"]["status"] == "proposed"


def test_bad_limits_are_refused_naming_every_field_and_nothing_runs(console, net):
    bad = {**LIMITS, "min_transfer_qty": "0", "max_distance_km": "loin", "horizon_days": "99"}
    answer = post_form(console, "/console/rebalancing/runs", bad)
    page = plain(answer)
    assert answer.status_code == 400 and "Rien n'a été enregistré" in page
    assert "Plus petite ligne de transfert : doit valoir au moins 1" in page
    assert "Horizon (jours) : doit valoir 28 au plus" in page
    assert "Distance entre magasins, au plus (km) : doit être un nombre" in page
    answer = post_form(console, "/console/rebalancing/runs", {**LIMITS, "excluded_skus": "TENT, NOPE"})
    assert answer.status_code == 400 and "Références jamais déplacées : référence inconnue : NOPE" in plain(answer)
    assert 'value="TENT, NOPE"' in answer.get_data(as_text=True)  # what was typed is kept
    assert rebalancing.latest_runs(net.db) == []


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(console, net):
    run_id = start_run(console)
    proposal = rebalancing.run_view(net.db, run_id)["proposals"][0]["proposal_id"]
    answer = console.post(f"/console/rebalancing/runs/{run_id}", data={"action": "approve", "proposal_ids": proposal})
    assert answer.status_code == 400
    answer = console.post("/console/rebalancing/runs", data={**LIMITS, "csrf_token": "forged"})
    assert answer.status_code == 400
    assert len(rebalancing.latest_runs(net.db)) == 1 and transfers.transfer_list(net.db) == []


def test_unknown_run_is_a_404_page_and_an_unknown_product_is_said(console):
    answer = console.get("/console/rebalancing?run=RB-NOPE")
    assert answer.status_code == 404 and "Introuvable" in text(answer)
    assert "Aucun produit ne correspond à « NOPE »." in text(console.get("/console/forecast?q=NOPE"))
    answer = console.get("/console/forecast?q=TENT&horizon_days=0")
    assert answer.status_code == 400 and "Horizon (jours) : doit valoir au moins 1" in plain(answer)
