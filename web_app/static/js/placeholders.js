// Placeholders: paint each image's ThumbHash (data-placeholder, base64) behind it, so a blurred preview of
// the photo shows until the image itself arrives; then take it away, so a transparent photo shows the
// stylesheet's checkerboard instead. Set through the CSSOM, which the CSP allows (no inline style).
import { thumbHashToDataURL } from "./thumbhash.js";

export function paintPlaceholder(img) {
  const hash = img.dataset.placeholder;
  if (!hash || img.style.backgroundImage || (img.complete && img.naturalWidth > 0)) return;
  try {
    const bytes = Uint8Array.from(atob(hash), (char) => char.charCodeAt(0));
    img.style.backgroundImage = `url("${thumbHashToDataURL(bytes)}")`;
    img.addEventListener("load", () => img.style.removeProperty("background-image"), { once: true });
  } catch {
    // A malformed hash only costs the placeholder; the image still loads.
  }
}

export function paintPlaceholders(root) {
  for (const img of root.querySelectorAll("img[data-placeholder]")) paintPlaceholder(img);
}
