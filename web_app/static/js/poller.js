// Poll status URLs of images still processing; stops by itself when nothing is left to watch.
const POLL_MS = 1000;
const watched = new Map(); // status URL -> callback(image | null)
let timer = null;

export function watch(url, onUpdate) {
  watched.set(url, onUpdate);
  schedule();
}

function schedule() {
  if (timer === null && watched.size > 0) timer = setTimeout(tick, POLL_MS);
}

async function check(url, onUpdate) {
  try {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (response.status === 404) {
      watched.delete(url); // deleted meanwhile
      onUpdate(null);
    } else if (response.ok) {
      const image = await response.json();
      if (image.status !== "processing") watched.delete(url);
      onUpdate(image);
    }
  } catch {
    // Offline for a moment: the next round asks again.
  }
}

async function tick() {
  // A hidden tab does not poll; it catches up as soon as it is shown again.
  if (!document.hidden) await Promise.all([...watched].map(([url, onUpdate]) => check(url, onUpdate)));
  timer = null;
  schedule();
}
