"""Peak memory of a job worker's threads decoding very large images at once, with and without the decode
budget: `python -m benchmarks.decode_budget [--quick]`.

Each case runs in a fresh process (`--case`), whose kernel high-water mark (VmHWM) is read after the decodes:
four threads make the renditions of four different 30 MP PNGs at the same time, as WORKER_THREADS and
CAPTION_CONCURRENCY together allow. The reference is the same with the budget lifted. Both tune malloc as the
job worker does (`annotation_core.allocator`): with glibc's default of one malloc arena per thread, memory one
thread freed is not reused by the next thread's decode, and taking turns saves little (0.88x measured).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.peak_rss import reset_peak, status_kib
from benchmarks.photos import encode, photo
from benchmarks.report import Report, print_report

THREADS = 4


def make_files(folder: Path, size: tuple[int, int]) -> list[Path]:
    paths = []
    for seed in range(THREADS):
        path = folder / f"{seed}.png"
        path.write_bytes(encode(photo(size, seed), "PNG", compress_level=1))
        paths.append(path)
    return paths


def case(budgeted: bool, paths: list[str]) -> dict:
    """Run in a fresh process: four renditions at once; the peak growth of its resident memory."""
    from annotation_core import decode_budget
    from annotation_core.allocator import tune_malloc
    from lambda_functions.thumbnail_lambda.thumbnailer import make_renditions

    tune_malloc(return_freed_memory=False)
    if not budgeted:
        decode_budget.DECODES.capacity = 10**12
    data = [Path(path).read_bytes() for path in paths]
    make_renditions(data[0][:0] + encode(photo((64, 48)), "PNG"), grid_box=(256, 256), preview_size=1440)  # warm
    reset_peak()
    before = status_kib("VmRSS")
    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda blob: make_renditions(blob, grid_box=(256, 256), preview_size=1440), data))
    return {"peak_growth_mib": (status_kib("VmHWM") - before) / 1024, "seconds": time.perf_counter() - started}


def run(quick: bool) -> Report:
    size = (3000, 2000) if quick else (6000, 5000)
    report = Report(
        "decode_budget",
        f"{THREADS} renditions at once of {size[0] * size[1] / 1e6:.0f} MP PNGs: peak memory with the decode budget",
        {"threads": THREADS, "size": f"{size[0]}x{size[1]}"},
    )
    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(path) for path in make_files(Path(tmp), size)]
        for name, budgeted in (("without budget (reference)", False), ("with budget", True)):
            command = [sys.executable, "-m", "benchmarks.decode_budget", "--case", str(int(budgeted)), *paths]
            answer = subprocess.run(command, capture_output=True, check=True)
            report.results[name] = json.loads(answer.stdout)
    reference, budgeted = report.results["without budget (reference)"], report.results["with budget"]
    report.ratios["peak memory with / without the budget"] = budgeted["peak_growth_mib"] / reference["peak_growth_mib"]
    report.ratios["time with / without the budget"] = budgeted["seconds"] / reference["seconds"]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decode_budget", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case is not None:
        print(json.dumps(case(bool(args.case), args.paths)))
        return
    print_report(run(args.quick))


if __name__ == "__main__":
    main()
