"""Peak RSS growth of one thumbnailing case in a fresh process: `python -m benchmarks.peak_rss CASE FILE`.

tracemalloc cannot see Pillow's C buffers, so the kernel's high-water mark (VmHWM) is read instead,
after resetting it (`/proc/self/clear_refs`) once the file is read and every module is loaded.
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

from benchmarks import libvips, upload_memory
from benchmarks.photos import encode, heic, photo
from benchmarks.thumbnail import CASES_BY_NAME

CASES = CASES_BY_NAME | libvips.MEMORY_CASES | upload_memory.MEMORY_CASES


def status_kib(field: str) -> int:
    """A `kB` field of /proc/self/status, e.g. VmRSS or VmHWM."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak() -> bool:
    """Set VmHWM back to the current RSS; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def warm_up() -> None:
    """Run every case on a tiny image of each format the cases read differently."""
    tiny = photo((64, 48))
    for data in (encode(tiny, "JPEG"), encode(tiny, "PNG"), encode(tiny, "WEBP"), heic((64, 48))):
        for name, case in CASES.items():
            if name not in libvips.MEMORY_CASES or libvips.vips_decodes(data):
                case(data)


def main(case: str, path: str) -> None:
    data = Path(path).read_bytes()
    warm_up()  # loads codecs, libvips and lazy modules, so only the case's own buffers count
    gc.collect()
    was_reset = reset_peak()
    before = status_kib("VmRSS") if was_reset else status_kib("VmHWM")
    CASES[case](data)
    growth = status_kib("VmHWM") - before
    print(json.dumps({"case": case, "peak_growth_kib": growth, "peak_was_reset": was_reset}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
