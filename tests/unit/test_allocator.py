"""annotation_core.allocator: in a web worker, memory freed by image-sized buffers in threads goes back to the
system.

Each case runs in a fresh interpreter, since malloc's settings are per process and stay for its life.
"""

from __future__ import annotations

import json
import os
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
