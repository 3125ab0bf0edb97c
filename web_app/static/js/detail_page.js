// Detail page: ask before deleting, and follow the jobs live while they run (e.g. after a retry).
import { paintPlaceholders } from "./placeholders.js";
import { watch } from "./poller.js";

const detail = document.getElementById("detail");
paintPlaceholders(detail);
const JOBS = ["thumbnail", "caption"];

for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

function field(root, name) {
  return root.querySelector(`[data-field="${name}"]`);
}

function render(image) {
  if (image === null) {
    window.location.assign(detail.querySelector(".back a")?.href ?? "/gallery");
    return;
  }
  detail.dataset.status = image.status;
  field(detail, "caption").textContent = image.caption || "No caption yet.";
  field(detail, "caption_model").textContent = image.caption_model || "—";
  if (image.caption) detail.querySelector(".original img").alt = image.caption;
  for (const job of JOBS) {
    const row = detail.querySelector(`tr[data-job="${job}"]`);
    const state = image[`${job}_status`];
    const badge = field(row, "state");
    badge.className = `badge badge-${state}`;
    badge.textContent = image[`${job}_state_text`] ?? state;
    field(row, "attempts").textContent = image[`${job}_attempts`];
    field(row, "error").textContent = image[`${job}_error`] || "—";
  }
  document.getElementById("retry-form").hidden = !JOBS.some(
    (job) => image[`${job}_status`] === "failed" || image[`${job}_next_attempt_at`] !== null,
  );
}

if (detail.dataset.status === "processing") watch(detail.dataset.imageId, render);
