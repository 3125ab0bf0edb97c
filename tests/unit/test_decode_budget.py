"""The decode budget: images whose pixels together fit it are decoded side by side; larger ones take turns,
and one larger than the whole budget waits until it is alone (never forever)."""

from __future__ import annotations

import threading

from annotation_core.decode_budget import PixelBudget


def start_taking(budget: PixelBudget, pixels: int) -> tuple[threading.Event, threading.Event, threading.Thread]:
    """A thread that takes `pixels` and holds them until released; (entered, release, thread)."""
    entered, release = threading.Event(), threading.Event()

    def decode():
        with budget.take(pixels):
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=decode)
    thread.start()
    return entered, release, thread


def test_decodes_that_fit_together_run_side_by_side():
    budget = PixelBudget(48)
    first, second = start_taking(budget, 12), start_taking(budget, 30)
    assert first[0].wait(5) and second[0].wait(5)
    assert budget.in_use == 42
    for _entered, release, thread in (first, second):
        release.set()
        thread.join()
    assert budget.in_use == 0


def test_a_large_decode_waits_for_its_turn_and_one_larger_than_the_budget_for_solitude():
    budget = PixelBudget(48)
    running = start_taking(budget, 30)
    assert running[0].wait(5)
    waiting = start_taking(budget, 30)
    huge = start_taking(budget, 10**9)

    assert not waiting[0].wait(0.2) and not huge[0].wait(0.01)  # 30 + 30 > 48: not yet
    running[1].set()
    running[2].join()
    assert waiting[0].wait(5) or huge[0].wait(5)
    first, second = (waiting, huge) if waiting[0].is_set() else (huge, waiting)
    assert not second[0].is_set()
    first[1].set()
    first[2].join()
    assert second[0].wait(5)
    second[1].set()
    second[2].join()
    assert budget.in_use == 0
