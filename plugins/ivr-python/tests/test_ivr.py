"""The Python IVR natively, under plain pytest: every case of the shared IVR case data
(``tests/cases/ivr``, which the Rust plugin and the real host answer too), and whole
calls through the SDK's walker."""

from pathlib import Path

import pytest

import app
from callflow_sdk import Unavailable
from callflow_sdk.testing import Harness, call_action, load_case

CASES = sorted((Path(__file__).resolve().parents[3] / "tests" / "cases" / "ivr").iterdir())
CONFIG = {"virtual_number": "+6512345678", "representative_number": "+6587654321"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_case_answers_as_the_seed_says(case):
    event, expected = load_case(case)
    flow = Harness(CONFIG).handle(app.Ivr(), event)
    assert flow is not None
    assert flow.to_dict() == expected.to_dict()


def test_there_are_cases():
    assert len(CASES) >= 20


def test_book_for_today_by_pressing_1_three_times():
    t = Harness(CONFIG).call(app.Ivr(), "1,1,1")
    assert t.heard == [app.MAIN_MENU, app.RESERVATIONS, app.BOOK_TABLE, app.BOOKED_TODAY]
    assert t.pressed == ["1", "1", "1"]
    assert t.ended == "the callflow hung up"


def test_connect_bridges_to_the_representative_and_hangs_up_after():
    t = Harness(CONFIG).call(app.Ivr(), "2,1")
    assert t.bridged == ["+6587654321"]
    assert t.callflows[-1].to_dict() == {"callflow": [{"action": "hangup"}]}


def test_connect_without_configuration_is_unavailable_naming_the_key():
    h = Harness({"representative_number": "+6587654321"})
    with pytest.raises(Unavailable, match="virtual_number"):
        h.handle(app.Ivr(), call_action(client_action_id="connect_call", digits="1"))
    t = h.call(app.Ivr(), "2,1")
    assert t.ended.startswith("fallback:") and "virtual_number" in t.ended


def test_an_unknown_menu_starts_over_with_a_warning():
    h = Harness(CONFIG)
    flow = h.handle(app.Ivr(), call_action(client_action_id="nowhere", digits="1"))
    assert flow.id == "main_menu"
    assert [l.level for l in h.logs()] == ["warn"]


def test_other_events_need_no_answer():
    from callflow_sdk.testing import event_from_json

    status = event_from_json(
        {"eventType": "CALL_STATUS", "payload": {"callStatus": "CALL_DISCONNECTED", "source": "6591178965"}}
    )
    assert status.call.source == "+6591178965"
    assert Harness(CONFIG).handle(app.Ivr(), status) is None
