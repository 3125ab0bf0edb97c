// Poll the status of images still processing, all of them in one request a round; stops by itself
// when nothing is left to watch.
const POLL_MS = 1000;
const BATCH = 100; // the API's limit of ids per request
const STATUS_URL = document.querySelector('meta[name="status-url"]').content;
const watched = new Map(); // image id -> the callbacks(image | null) of everyone following it (a tile, the tray...)
let timer = null;

export function watch(imageId, onUpdate) {
  const id = Number(imageId);
  if (!watched.has(id)) watched.set(id, new Set());
  watched.get(id).add(onUpdate);
  schedule();
}

function schedule() {
  if (timer === null && watched.size > 0) timer = setTimeout(tick, POLL_MS);
}

async function check(ids) {
  try {
    const response = await fetch(`${STATUS_URL}?ids=${ids.join(",")}`, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const found = new Map((await response.json()).images.map((image) => [image.id, image]));
    for (const id of ids) {
      const callbacks = watched.get(id);
      if (!callbacks) continue;
      const image = found.get(id) ?? null; // absent: deleted (or moved to the trash) meanwhile
      if (image === null || image.status !== "processing") watched.delete(id);
      for (const onUpdate of callbacks) onUpdate(image);
    }
  } catch {
    // Offline for a moment: the next round asks again.
  }
}

async function tick() {
  // A hidden tab does not poll; it catches up as soon as it is shown again.
  if (!document.hidden) {
    const ids = [...watched.keys()];
    const batches = [];
    for (let start = 0; start < ids.length; start += BATCH) batches.push(ids.slice(start, start + BATCH));
    await Promise.all(batches.map(check));
  }
  timer = null;
  schedule();
}
