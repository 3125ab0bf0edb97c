// Poll the status of images still processing, all of them in one request a round; stops by itself
// when nothing is left to watch.
const POLL_MS = 1000;
const BATCH = 100; // the API's limit of ids per request
const STATUS_URL = document.querySelector('meta[name="status-url"]').content;
const watched = new Map(); // image id -> callback(image | null)
let timer = null;

export function watch(imageId, onUpdate) {
  watched.set(Number(imageId), onUpdate);
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
      const onUpdate = watched.get(id);
      const image = found.get(id) ?? null; // absent: deleted meanwhile
      if (image === null || image.status !== "processing") watched.delete(id);
      onUpdate(image);
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
