"""annotation_core.allocator: in a web worker, memory freed by image-sized buffers in threads goes back to the
system.

What it does to memory is seen in a fresh interpreter per case, since malloc's settings are per process and
stay for its life; which settings each kind of process asks glibc for is checked here, with glibc's call
recorded, since this test process must keep its own allocator as it is.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest

from annotation_core import allocator

# Four threads each allocate and free 800 buffers of 0.25 to 0.35 MiB (a decoded strip, a spooled upload
# part), leaving a small object alive between rounds, as a web worker does between requests. Prints what
# the allocator was told, then the growth of resident memory in MiB once every buffer is freed.
CHILD = textwrap.dedent(
    """
    import json, os, sys, threading
    from annotation_core.allocator import tune_malloc

    mode = sys.argv[1]
    told = [] if mode == "default" else tune_malloc(return_freed_memory=mode == "web worker")

    def resident_mib():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) // 1024

    kept = []

    def work(seed):
        for round_number in range(20):
            buffers = [bytearray(16 * (16384 + 1024 * ((seed + i) % 7))) for i in range(40)]
            kept.append(bytes(64 * (round_number + 1)))
            del buffers

    before = resident_mib()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"told": told, "growth_mib": resident_mib() - before}))
    """
)

glibc_only = pytest.mark.skipif(not allocator._is_glibc(), reason="tunes glibc's malloc only")


def run_child(mode: str, **environment: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
    answer = subprocess.run(
        [sys.executable, "-c", CHILD, mode], env={**env, **environment}, capture_output=True, text=True, check=True
    )
    return json.loads(answer.stdout)


@glibc_only
def test_freed_buffers_stay_resident_with_glibcs_defaults():
    """The case the module exists for: without it, the freed buffers' memory stays with the process."""
    assert run_child("default")["growth_mib"] > 32


@glibc_only
def test_a_web_worker_gives_freed_buffers_back_to_the_system():
    result = run_child("web worker")
    assert result["told"] == ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"]
    assert result["growth_mib"] < 8


@glibc_only
def test_a_job_worker_only_caps_the_arenas():
    assert run_child("job worker")["told"] == ["MALLOC_ARENA_MAX"]


@glibc_only
def test_a_setting_in_the_environment_wins():
    assert run_child("web worker", MALLOC_MMAP_THRESHOLD_="4194304")["told"] == ["MALLOC_ARENA_MAX"]
    assert run_child("job worker", MALLOC_ARENA_MAX="8")["told"] == []


def test_nothing_is_changed_where_the_c_library_is_not_glibc(monkeypatch):
    def unknown_name(name):
        raise ValueError(f"unrecognized configuration name {name}")

    monkeypatch.setattr(allocator.os, "confstr", unknown_name)
    assert allocator.tune_malloc(return_freed_memory=True) == []


@pytest.fixture
def glibc_calls(monkeypatch):
    """Records every mallopt call instead of making it, and answers as glibc does for a valid setting."""
    calls = []
    monkeypatch.setattr(allocator, "_is_glibc", lambda: True)
    monkeypatch.setattr(allocator, "_mallopt", lambda parameter, value: calls.append((parameter, value)) or True)
    for name in ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_a_web_worker_asks_for_two_arenas_and_a_fixed_128_kib_threshold(glibc_calls):
    assert allocator.tune_malloc(return_freed_memory=True) == ["MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_"]
    assert glibc_calls == [(-8, 2), (-3, 131072)]  # M_ARENA_MAX, M_MMAP_THRESHOLD in <malloc.h>


def test_a_job_worker_asks_for_two_arenas_only(glibc_calls):
    assert allocator.tune_malloc(return_freed_memory=False) == ["MALLOC_ARENA_MAX"]
    assert glibc_calls == [(-8, 2)]


def test_settings_named_in_the_environment_are_left_to_glibc(glibc_calls, monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert allocator.tune_malloc(return_freed_memory=True) == ["MALLOC_MMAP_THRESHOLD_"]
    assert glibc_calls == [(-3, 131072)]


def test_a_setting_glibc_refuses_is_not_reported_as_made(monkeypatch):
    monkeypatch.setattr(allocator, "_is_glibc", lambda: True)
    monkeypatch.setattr(allocator, "_mallopt", lambda parameter, value: parameter == allocator.M_ARENA_MAX)
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert allocator.tune_malloc(return_freed_memory=True) == ["MALLOC_ARENA_MAX"]


@glibc_only
def test_glibcs_own_answer_is_passed_on():
    # Neither call changes anything: glibc refuses a fast-bin limit above 160 bytes (M_MXFAST, 1), and an arena
    # limit of 0 means "as it is".
    assert allocator._mallopt(1, 10**6) is False
    assert allocator._mallopt(allocator.M_ARENA_MAX, 0) is True


def test_glibc_is_recognised_as_the_platform_module_sees_it():
    assert allocator._is_glibc() == (platform.libc_ver()[0] == "glibc")


def test_a_c_library_that_does_not_say_its_version_is_not_glibc(monkeypatch):
    monkeypatch.setattr(allocator.os, "confstr", lambda name: None)
    assert allocator._is_glibc() is False
