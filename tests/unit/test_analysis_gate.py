"""The gate that admits large messages into analysis within a byte budget, in arrival order."""

from __future__ import annotations

import threading

import pytest

from spoofwatch import analysis_gate
from spoofwatch.analysis_gate import AnalysisGate


def _no_tick() -> None:
    raise AssertionError("no progress expected")


def test_messages_that_fit_together_enter_at_once() -> None:
    gate = AnalysisGate(100)
    assert gate.enter(60, 5, _no_tick)
    assert gate.enter(40, 5, _no_tick)


def test_a_message_larger_than_the_budget_enters_alone() -> None:
    gate = AnalysisGate(100)
    assert gate.enter(500, 5, _no_tick)


def test_a_message_that_does_not_fit_gets_no_room_within_its_wait() -> None:
    gate = AnalysisGate(100)
    assert gate.enter(80, 5, _no_tick)
    assert not gate.enter(80, 0.05, _no_tick)


def test_a_waiting_message_enters_when_room_is_freed_and_ticks_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(analysis_gate, "PROGRESS_SECONDS", 0.01)
    gate = AnalysisGate(100)
    assert gate.enter(80, 5, _no_tick)
    ticked = threading.Event()
    entered: list[bool] = []
    waiter = threading.Thread(target=lambda: entered.append(gate.enter(80, 30, ticked.set)))
    waiter.start()
    assert ticked.wait(10)  # it told the MTA it is alive while it waited
    gate.leave(80)
    waiter.join(10)
    assert entered == [True]


def test_arrival_order_is_kept() -> None:
    gate = AnalysisGate(100)
    assert gate.enter(100, 5, _no_tick)
    order: list[str] = []
    first_waiting = threading.Event()

    def big() -> None:
        first_waiting.set()
        if gate.enter(96, 30, lambda: None):  # 96 + 5 > 100: the small one must wait
            order.append("big")
            gate.leave(96)

    def small() -> None:
        if gate.enter(5, 30, lambda: None):
            order.append("small")
            gate.leave(5)

    first = threading.Thread(target=big)
    first.start()
    assert first_waiting.wait(10)
    while not gate._line:  # the big one has taken its place in line
        first.join(0.001)
    second = threading.Thread(target=small)
    second.start()
    gate.leave(100)
    first.join(10)
    second.join(10)
    assert order == ["big", "small"]
