// Live gallery: poll the status API for cards still processing and update them in place.
const POLL_MS = 2000;

function render(card, image) {
  card.dataset.status = image.status;
  for (const job of ["thumbnail", "caption"]) {
    const badge = card.querySelector(`[data-job="${job}"]`);
    const state = image[`${job}_status`];
    badge.className = `badge badge-${state}`;
    badge.textContent = `${job}: ${state}`;
  }
  card.querySelector(".caption").textContent = image.caption || image.caption_error || "";
  if (image.thumbnail_url && !card.querySelector("img")) {
    const img = document.createElement("img");
    img.src = image.thumbnail_url;
    img.alt = image.caption || image.filename;
    card.querySelector(".thumb").replaceChildren(img);
  } else if (image.caption && card.querySelector("img")) {
    card.querySelector("img").alt = image.caption;
  }
}

async function poll() {
  const cards = [...document.querySelectorAll('.card[data-status="processing"]')];
  await Promise.all(cards.map(async (card) => {
    const response = await fetch(card.dataset.statusUrl, { headers: { Accept: "application/json" } });
    if (response.ok) render(card, await response.json());
  }));
  if (document.querySelector('.card[data-status="processing"]')) setTimeout(poll, POLL_MS);
}

poll();
