"""Make memory freed after an image go back to the system (glibc's malloc; elsewhere nothing changes).

glibc's defaults suit small programs, not one that handles photos in threads. Each thread may get an arena of
its own (up to eight per core), and memory freed in one arena is not reused by another thread's allocations.
And buffers above a threshold are mapped from the system and returned whole on free, but each time such a
buffer is freed glibc raises the threshold to its size (up to 32 MiB): after the first large image, the next
images' buffers are carved out of the heap, where a few small live objects between them keep the freed pages
resident. A web worker taking uploads then grew with every upload it handled. Capping the arenas and keeping
the threshold at glibc's own starting value stops both (measured in docs/reliability.md, "Resources").

Every long-lived process that handles images calls `keep_freed_memory_returnable()` before it starts threads:
gunicorn's web workers (web_app/gunicorn.conf.py), the local job worker and the job Lambdas. A MALLOC_ARENA_MAX
or MALLOC_MMAP_THRESHOLD_ set in the environment is glibc's own way to choose and wins.
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

SETTINGS = (("MALLOC_ARENA_MAX", M_ARENA_MAX, ARENAS), ("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, MAPPED_FROM_BYTES))


def keep_freed_memory_returnable() -> list[str]:
    """Cap malloc's arenas and fix its mapping threshold in this process (glibc only); names what it set."""
    if not _is_glibc():
        return []
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return [name for name, parameter, value in SETTINGS if name not in os.environ and mallopt(parameter, value) == 1]


def _is_glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):  # not a name this C library knows: musl, macOS
        return False
