"""Make memory freed after an image go back to the system (glibc's malloc; elsewhere nothing changes).

glibc's defaults suit small programs, not one that handles photos in threads. Each thread may get an arena of
its own (up to eight per core), and memory freed in one arena is not reused by another thread's allocations.
And buffers above a threshold are mapped from the system and returned whole on free, but each time such a
buffer is freed glibc raises the threshold to its size (up to 32 MiB): after the first large image, the next
images' buffers are carved out of the heap, where a few small live objects between them keep the freed pages
resident. A web worker taking uploads then grew with every upload it handled (docs/reliability.md, "Resources").

Every long-lived process that handles images calls `tune_malloc` before it starts threads. All of them cap the
arenas. Web workers (web_app/gunicorn.conf.py) also keep the threshold at glibc's starting value, so their
memory stays flat. The job processes (the local job worker, the job Lambdas) don't: every rendition then maps
fresh, zeroed pages for its image, which cost 10 % more CPU per rendition here, and there memory is reused by the
next job anyway (bounded by the decode budget) rather than growing with the number of uploads.
A MALLOC_ARENA_MAX or MALLOC_MMAP_THRESHOLD_ set in the environment is glibc's own way to choose and wins.
"""

from __future__ import annotations

import ctypes
import os

# mallopt(3) parameters, from glibc's <malloc.h>.
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

ARENAS = 2
# Buffers from this size up are mapped from the system, and unmapped when freed. glibc starts at this value
# too; setting it explicitly turns off the rising threshold.
MAPPED_FROM_BYTES = 128 * 1024

ARENA_LIMIT = ("MALLOC_ARENA_MAX", M_ARENA_MAX, ARENAS)
FIXED_THRESHOLD = ("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, MAPPED_FROM_BYTES)


def tune_malloc(*, return_freed_memory: bool) -> list[str]:
    """Cap malloc's arenas in this process and, with `return_freed_memory`, fix its mapping threshold (glibc
    only). Names the settings it made."""
    if not _is_glibc():
        return []
    settings = (ARENA_LIMIT, FIXED_THRESHOLD) if return_freed_memory else (ARENA_LIMIT,)
    return [name for name, parameter, value in settings if name not in os.environ and _mallopt(parameter, value)]


def _mallopt(parameter: int, value: int) -> bool:
    """glibc's mallopt(3); True if it took the setting."""
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(parameter, value) == 1


def _is_glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):  # not a name this C library knows: musl, macOS
        return False
