// Gallery cards: fill one from an image's status document, add new ones, follow those still processing.
import { paintPlaceholder } from "./placeholders.js";
import { watch } from "./poller.js";

const JOBS = ["thumbnail", "caption"];

export function renderCard(card, image) {
  card.dataset.imageId = image.id;
  card.dataset.status = image.status;
  const link = card.querySelector(".thumb");
  link.href = image.detail_url;
  const label = image.alt_text || image.caption || image.filename;
  let img = link.querySelector("img");
  if (image.thumbnail_url && !img) {
    img = gridImage(image);
    link.replaceChildren(img);
  }
  if (img) img.alt = label;
  else link.replaceChildren(placeholder(`${image.filename} (thumbnail ${image.thumbnail_status})`));
  const caption = card.querySelector(".caption");
  caption.textContent = image.caption || image.caption_error || "";
  caption.classList.toggle("caption-error", !image.caption && Boolean(image.caption_error));
  card.querySelector(".filename").textContent = image.filename;
  renderTags(card.querySelector(".tags"), image.tags || []);
  for (const job of JOBS) {
    const badge = card.querySelector(`[data-job="${job}"]`);
    const state = image[`${job}_status`];
    badge.className = `badge badge-${state}`;
    badge.textContent = `${job[0].toUpperCase()}${job.slice(1)}: ${image[`${job}_state_text`] ?? state}`;
  }
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
  if (image.preview_url) img.srcset = `${image.thumbnail_url} 1x, ${image.preview_url} 2x`;
  img.src = image.thumbnail_url;
  return img;
}

function placeholder(text) {
  const span = document.createElement("span");
  span.className = "placeholder";
  span.textContent = text;
  return span;
}

export function follow(card) {
  watch(card.dataset.imageId, (image) => {
    if (image === null) card.remove();
    else renderCard(card, image);
  });
}

export function followProcessing(gallery) {
  for (const card of gallery.querySelectorAll('.card[data-status="processing"]')) follow(card);
}

export function showImage(gallery, image) {
  // Put a newly uploaded image first (once), and follow it until both jobs have settled.
  if (gallery.querySelector(`.card[data-image-id="${image.id}"]`)) return;
  const card = document.getElementById("card-template").content.firstElementChild.cloneNode(true);
  renderCard(card, image);
  gallery.prepend(card);
  if (image.status === "processing") follow(card);
}
