// The page of one photo (what a shared /images/<id> link opens): times in the reader's zone, and the jobs
// followed live while they run (e.g. after a retry).
import { renderTags, waitsForProvider } from "./cards.js";
import { localizeTimes } from "./formats.js";
import { paintPlaceholders } from "./placeholders.js";
import { watch } from "./poller.js";

const detail = document.getElementById("detail");
paintPlaceholders(detail);
localizeTimes(detail);
const JOBS = ["thumbnail", "caption"];

function field(root, name) {
  return root.querySelector(`[data-field="${name}"]`);
}

function render(image) {
  if (image === null) {
    window.location.assign(document.querySelector('meta[name="gallery-url"]').content);
    return;
  }
  detail.dataset.status = image.status;
  field(detail, "caption").textContent = image.caption || "No caption yet.";
  field(detail, "caption_edited").hidden = !image.edited.includes("caption");
  field(detail, "caption_model").textContent = image.caption_model || "—";
  const shown = detail.querySelector(".original img");
  const alt = image.alt_text || image.caption;
  if (alt && shown) shown.alt = alt;
  if (shown && image.preview_url && shown.getAttribute("src") !== image.preview_url) {
    // The preview arrived while the page was open: show it in place of the original or the grid image.
    shown.width = image.preview_width;
    shown.height = image.preview_height;
    shown.src = image.preview_url;
  }
  renderTags(detail.querySelector(".original .tags"), image.tags);
  for (const job of JOBS) {
    const row = detail.querySelector(`.job[data-job="${job}"]`);
    const state = image[`${job}_status`];
    const badge = field(row, "state");
    badge.className = `badge badge-${state}`;
    badge.textContent = image[`${job}_state_text`] ?? state;
    field(row, "attempts").textContent = image[`${job}_attempts`];
    field(row, "error").textContent = image[`${job}_error`] || "—";
  }
  if (waitsForProvider(image)) document.getElementById("provider-notice")?.removeAttribute("hidden");
  if (JOBS.some((job) => image[`${job}_status`] === "failed")) {
    // A "Retrying…" message must not stay above a job that has failed again.
    for (const flash of document.querySelectorAll(".flash-success")) flash.remove();
  }
  const retryForm = document.getElementById("retry-form"); // absent for those who may not change the image
  if (retryForm) {
    retryForm.hidden = !JOBS.some((job) => image[`${job}_status`] === "failed" || image[`${job}_next_attempt_at`] !== null);
  }
}

if (detail.dataset.status === "processing") watch(detail.dataset.imageId, render);
