"""The images `benchmarks.libvips` measures: real photographs from Debian's wallpaper packages where they are
installed (see the README's Benchmarks section), plus cases derived here with Pillow for what those lack:
12-48 MP, progressive, CMYK, 16-bit, alpha, animation, WebP and HEIC."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from benchmarks.photos import encode, heic, photo

WALLPAPERS = Path("/usr/share/backgrounds")  # ukui-wallpapers, gnome-backgrounds, mate-backgrounds
REAL_PER_GROUP = 2  # the largest few of each group: enough to see a trend, few enough for a short run
MIN_REAL_PIXELS = 2_000_000
_SUFFIX_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}


@dataclass(frozen=True)
class Case:
    """One file of the corpus and the format group its figures are summed into."""

    name: str
    group: str
    data: bytes
    real: bool = False  # a photograph from a wallpaper package, not derived here
    large: bool = False  # one of the 24-48 MP cases

    @property
    def megapixels(self) -> float:
        with Image.open(io.BytesIO(self.data)) as image:
            return image.width * image.height / 1e6


def corpus(quick: bool) -> list[Case]:
    """Derived cases (small ones when `quick`), then the real photographs (none when `quick`)."""
    return derived(quick) + ([] if quick else real())


def derived(quick: bool) -> list[Case]:
    """Photo-like images made with Pillow: each format group, the big sizes and the awkward modes."""
    base = (800, 600) if quick else (4000, 3000)
    image = photo(base)
    alpha = image.convert("RGBA")
    alpha.putalpha(Image.linear_gradient("L").resize(base))
    mp = f"{base[0] * base[1] / 1e6:g} MP"
    cases = [
        Case(f"{mp} baseline JPEG", "baseline JPEG", encode(image, "JPEG", quality=90)),
        Case(f"{mp} progressive JPEG", "progressive JPEG", encode(image, "JPEG", quality=90, progressive=True)),
        Case(f"{mp} CMYK JPEG", "CMYK JPEG", encode(image.convert("CMYK"), "JPEG", quality=90)),
        Case(f"{mp} PNG", "PNG", encode(image, "PNG", compress_level=6)),
        Case(f"{mp} 16-bit grey PNG", "16-bit PNG", encode(image.convert("L").convert("I;16"), "PNG")),
        Case(f"{mp} alpha PNG", "alpha PNG", encode(alpha, "PNG")),
        Case(f"{mp} WebP", "WebP", encode(image, "WEBP", quality=85)),
        Case(f"{mp} alpha WebP", "alpha WebP", encode(alpha, "WEBP", quality=85)),
        Case(f"{mp} HEIC", "HEIC", heic(base)),
        Case("animated GIF (first frame)", "animated GIF", _animated_gif((base[0] // 4, base[1] // 4))),
    ]
    if not quick:
        for megapixels, size in ((24, (6000, 4000)), (48, (8000, 6000))):
            data = encode(photo(size), "JPEG", quality=90)
            cases.append(Case(f"{megapixels} MP baseline JPEG", "24-48 MP JPEG", data, large=True))
    return cases


def real() -> list[Case]:
    """The largest few wallpapers of each format group, by pixel count; none if the packages are absent."""
    groups: dict[str, list[tuple[int, Path]]] = {}
    for path in sorted(WALLPAPERS.rglob("*")) if WALLPAPERS.is_dir() else []:
        fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
        if fmt is None:
            continue
        with Image.open(path) as image:
            pixels = image.width * image.height
            progressive = bool(image.info.get("progressive") or image.info.get("progression"))
        if pixels >= MIN_REAL_PIXELS:
            jpeg_group = "progressive JPEG" if progressive else "baseline JPEG"
            group = {"JPEG": jpeg_group, "PNG": "PNG", "WEBP": "WebP"}[fmt]
            groups.setdefault(group, []).append((pixels, path))
    chosen = []
    for group, files in groups.items():
        for _, path in sorted(files, reverse=True)[:REAL_PER_GROUP]:
            chosen.append(Case(f"{path.name} ({path.parent.name})", group, path.read_bytes(), real=True))
    return chosen


def _animated_gif(size: tuple[int, int]) -> bytes:
    frames = [photo(size, seed).convert("P", palette=Image.Palette.ADAPTIVE) for seed in range(3)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
