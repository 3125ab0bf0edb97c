// Move photos to the trash through the API, hide their tiles, and offer to undo it for a while (the trash
// itself keeps them for TRASH_RETENTION_DAYS, so a script can restore them later too).
import { postJson } from "./api.js";
import { follow } from "./cards.js";
import { showToast } from "./toast.js";

const API = document.querySelector('meta[name="images-api"]')?.content ?? "/api/images";

function tilesOf(gallery, ids) {
  return ids.map((id) => gallery.querySelector(`.card[data-image-id="${id}"]`)).filter(Boolean);
}

function photos(count) {
  return `${count} photo${count === 1 ? "" : "s"}`;
}

export async function moveToTrash(gallery, ids) {
  const { status, body } = await postJson(`${API}/delete`, { ids });
  if (status !== 200) {
    showToast(body?.error ?? `The photos could not be moved to the trash (the server answered ${status}).`);
    return [];
  }
  const moved = body.images;
  const tiles = tilesOf(gallery, moved);
  for (const tile of tiles) tile.hidden = true; // kept in place, so Undo puts them back where they were
  const skipped = ids.length - moved.length;
  const text = `Moved ${photos(moved.length)} to the trash.${skipped ? ` ${photos(skipped)} you may not change stayed.` : ""}`;
  showToast(text, { action: "Undo", onAction: () => restore(gallery, moved) });
  gallery.dispatchEvent(new CustomEvent("photos-changed", { bubbles: true }));
  return moved;
}

async function restore(gallery, ids) {
  const { status, body } = await postJson(`${API}/restore`, { ids });
  if (status !== 200) {
    showToast(body?.error ?? `The photos could not be restored (the server answered ${status}).`);
    return;
  }
  for (const tile of tilesOf(gallery, body.images)) {
    tile.hidden = false;
    if (tile.dataset.status === "processing") follow(tile); // its jobs went on where they were
  }
  showToast(`Restored ${photos(body.images.length)}.`);
  gallery.dispatchEvent(new CustomEvent("photos-changed", { bubbles: true }));
}
