// The pages with photo tiles (the gallery, and the latest photos under the uploader): day headings in the
// reader's time zone, placeholders first, live tiles, more photos as the end nears, selection, and the viewer.
import { follow, followProcessing, showImage } from "./cards.js";
import { regroup } from "./days.js";
import { initInfiniteScroll } from "./infinite.js";
import { paintPlaceholders } from "./placeholders.js";
import { initSelection } from "./selection.js";
import { initViewer } from "./viewer.js";

const gallery = document.getElementById("gallery");
regroup(gallery);
paintPlaceholders(gallery);
followProcessing(gallery);
const scrolling = initInfiniteScroll(gallery, {
  onCards(cards) {
    for (const card of cards) {
      paintPlaceholders(card);
      if (card.dataset.status === "processing") follow(card);
    }
  },
});
const viewer = initViewer(gallery, scrolling);
const selection = initSelection(gallery);

gallery.addEventListener("click", (event) => {
  const link = event.target.closest(".thumb");
  if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.altKey) return; // new tab as usual
  event.preventDefault();
  const card = link.closest(".card");
  if (selection.active() || event.shiftKey) selection.toggle(card, event.shiftKey);
  else viewer.open(card.dataset.imageId);
});

if (gallery.dataset.live === "newest") {
  // Photos uploaded from the tray while this page is open join it (the newest first).
  document.addEventListener("image-stored", (event) => {
    showImage(gallery, event.detail);
    document.getElementById("gallery-empty")?.setAttribute("hidden", "");
  });
}
