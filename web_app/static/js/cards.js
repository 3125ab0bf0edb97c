// Photo tiles: fill one from an image's status document, add new ones, follow those still processing.
import { prependCard } from "./days.js";
import { paintPlaceholder } from "./placeholders.js";
import { watch } from "./poller.js";

export const JOBS = ["thumbnail", "caption"];
const SCOPE = document.querySelector('meta[name="change-scope"]')?.content ?? "none";
const USER_ID = document.querySelector('meta[name="user-id"]')?.content ?? "";

export function canChange(uploadedBy) {
  // As the server's can_change: everything for an admin, a member's own uploads, nothing for a viewer.
  if (SCOPE === "all") return true;
  return SCOPE === "own" && uploadedBy !== null && uploadedBy !== "" && String(uploadedBy) === USER_ID;
}

export function jobKind(image, job) {
  // What a not-completed job's icon says: failed (red), waiting (to retry, or for a provider), or working.
  const state = image[`${job}_status`];
  if (state === "failed") return "failed";
  return image[`${job}_next_attempt_at`] ? "waiting" : "working";
}

export function waitsForProvider(image) {
  return image.caption_state_text === "waiting for a caption provider";
}

export function renderCard(card, image) {
  card.dataset.imageId = image.id;
  card.dataset.status = image.status;
  card.dataset.filename = image.filename;
  card.dataset.uploaded = image.uploaded_at ?? "";
  card.dataset.taken = image.taken_at ?? "";
  card.dataset.owner = image.uploaded_by ?? "";
  const link = card.querySelector(".thumb");
  link.href = image.detail_url;
  link.title = image.filename;
  const label = image.alt_text || image.caption || image.filename;
  let img = link.querySelector("img");
  if (image.thumbnail_url && !img) {
    img = gridImage(image);
    link.replaceChildren(img);
  }
  if (img) img.alt = label;
  else link.replaceChildren(placeholder(image.filename));
  card.querySelector(".caption").textContent = label;
  const select = card.querySelector(".select");
  if (select) {
    select.setAttribute("aria-label", `Select ${image.filename}`);
    if (!canChange(image.uploaded_by)) select.remove();
  }
  renderStates(card.querySelector(".states"), image);
  if (waitsForProvider(image)) document.getElementById("provider-notice")?.removeAttribute("hidden");
}

function renderStates(list, image) {
  const items = [];
  for (const job of JOBS) {
    if (image[`${job}_status`] === "completed") continue;
    const item = document.createElement("li");
    item.className = `state state-${jobKind(image, job)}`;
    item.dataset.job = job;
    const text = `${job[0].toUpperCase()}${job.slice(1)}: ${image[`${job}_state_text`]}`;
    item.title = text;
    const hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    hidden.textContent = text;
    item.append(hidden);
    items.push(item);
  }
  list.replaceChildren(...items);
  list.hidden = items.length === 0;
}

export function renderTags(list, tags) {
  // Each tag links to the gallery search for it, as the server renders them.
  const gallery = document.querySelector('meta[name="gallery-url"]').content;
  list.replaceChildren(
    ...tags.map((tag) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.className = "tag";
      link.href = `${gallery}?q=${encodeURIComponent(tag)}`;
      link.textContent = tag;
      item.append(link);
      return item;
    }),
  );
  list.hidden = tags.length === 0;
}

function gridImage(image) {
  // As the server renders it: the size first (no layout shift), the placeholder behind, then the sources.
  const img = document.createElement("img");
  if (image.thumbnail_width) {
    img.width = image.thumbnail_width;
    img.height = image.thumbnail_height;
  }
  if (image.placeholder) {
    img.dataset.placeholder = image.placeholder;
    paintPlaceholder(img);
  }
  img.decoding = "async";
  img.loading = "lazy";
  if (image.preview_url && image.thumbnail_width) {
    // A square tile shows a landscape photo at the tile's height: it needs its width times the aspect.
    const wide = Math.max(1, image.thumbnail_width / image.thumbnail_height);
    img.srcset = `${image.thumbnail_url} ${image.thumbnail_width}w, ${image.preview_url} ${image.preview_width}w`;
    img.sizes = `(min-width: 40rem) ${Math.round(144 * wide)}px, ${Math.round(34 * wide)}vw`;
  }
  img.src = image.thumbnail_url;
  return img;
}

function placeholder(text) {
  const span = document.createElement("span");
  span.className = "placeholder";
  span.textContent = text;
  return span;
}

export function newCard(image) {
  const card = document.getElementById("card-template").content.firstElementChild.cloneNode(true);
  renderCard(card, image);
  return card;
}

export function follow(card) {
  watch(card.dataset.imageId, (image) => {
    if (image === null) card.hidden = true; // deleted, or moved to the trash (whose Undo shows it again)
    else renderCard(card, image);
    card.dispatchEvent(new CustomEvent("card-updated", { bubbles: true, detail: image }));
  });
}

export function followProcessing(root) {
  for (const card of root.querySelectorAll('.card[data-status="processing"]')) follow(card);
}

export function showImage(gallery, image) {
  // Put a newly uploaded image first (once), and follow it until both jobs have settled.
  if (gallery.querySelector(`.card[data-image-id="${image.id}"]`)) return;
  const card = newCard(image);
  prependCard(gallery, card);
  if (image.status === "processing") follow(card);
}
