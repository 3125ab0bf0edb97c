// Endless but honest scrolling: the "Older photos" link (which works without script) is fetched through the
// same cursor from the JSON API as it nears the screen, and its cards are appended; at the end the page says so.
import { getJson } from "./api.js";
import { newCard } from "./cards.js";
import { appendCards } from "./days.js";

export function initInfiniteScroll(gallery, { onCards }) {
  const link = document.getElementById("older");
  const api = gallery.dataset.api;
  if (!link || !api) return { loadMore: async () => false, hasMore: () => false };
  let loading = null;

  async function fetchPage() {
    const params = new URL(link.href).searchParams;
    const { status, body } = await getJson(`${api}?${params}`);
    if (status !== 200) return false;
    const known = (image) => gallery.querySelector(`.card[data-image-id="${image.id}"]`);
    const cards = body.images.filter((image) => !known(image)).map(newCard);
    appendCards(gallery, cards);
    onCards(cards);
    if (body.next_cursor) {
      params.set("cursor", body.next_cursor);
      link.href = `${window.location.pathname}?${params}`;
    } else {
      observer.disconnect();
      link.remove();
      document.getElementById("pager-end").hidden = false;
    }
    return true;
  }

  async function loadMore() {
    if (!link.isConnected) return false;
    loading ??= fetchPage().finally(() => {
      loading = null;
      if (link.isConnected) {
        observer.unobserve(link); // observed afresh: still near the screen means load the next page too
        observer.observe(link);
      }
    });
    return loading;
  }

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) loadMore();
  }, { rootMargin: "600px 0px" });
  observer.observe(link);
  return { loadMore, hasMore: () => link.isConnected };
}
