// The uploader: drop zone and file picker, checks before sending, one request per file with progress,
// each file's outcome, and a retry of the uploads that failed on the way (not those the server refused).
import { csrfToken } from "./csrf.js";
import { sendFile } from "./upload_request.js";
import { makeRow } from "./upload_row.js";

const CONCURRENCY = 3;
const REFUSED = new Set([400, 413, 415]); // the server judged the file: sending it again changes nothing

export function initUploader(form, { onStored }) {
  const input = form.querySelector('input[type="file"]');
  const dropZone = form.querySelector(".drop-zone");
  const panel = document.getElementById("upload-status");
  const list = document.getElementById("upload-list");
  const summary = document.getElementById("upload-summary");
  const retryButton = document.getElementById("retry-uploads");
  const maxBytes = Number(form.dataset.maxBytes);
  const types = { list: form.dataset.types.split(","), names: form.dataset.typeNames };
  const uploads = [];
  const queue = [];
  let active = 0;

  form.querySelector(".no-js-submit").hidden = true; // with scripts, choosing files starts the upload

  function add(files) {
    for (const file of files) {
      const upload = { file, row: makeRow(file), state: "queued" };
      uploads.push(upload);
      list.append(upload.row.item);
      const problem = check(file, types, maxBytes);
      if (problem) settle(upload, "refused", `Not sent: ${problem}`);
      else queue.push(upload);
    }
    panel.hidden = uploads.length === 0;
    pump();
  }

  function pump() {
    while (active < CONCURRENCY && queue.length > 0) send(queue.shift());
    update();
  }

  async function send(upload) {
    active += 1;
    settle(upload, "sending", "Uploading…");
    const { status, body } = await sendFile(form.action, upload.file, {
      token: csrfToken(),
      onProgress: (loaded, total) => upload.row.setProgress(loaded, total),
    });
    active -= 1;
    if (status === 202 && body?.images?.length) {
      const stored = body.images[0];
      upload.row.setProgress(1, 1);
      if (stored.duplicate) settle(upload, "duplicate", "Already in the gallery (same file).", stored);
      else settle(upload, "accepted", "Uploaded: thumbnail and caption on their way.", stored);
      if (!stored.duplicate) onStored(stored);
    } else if (REFUSED.has(status) && body?.error) {
      settle(upload, "refused", `Refused: ${body.error}`);
    } else {
      const reason = body?.error || (status ? `the server answered ${status}` : "the connection failed");
      settle(upload, "failed", `Failed: ${reason}. Retry when ready.`);
    }
    pump();
  }

  function settle(upload, state, message, stored = null) {
    upload.state = state;
    upload.row.show(state, message, stored);
    update();
  }

  function update() {
    const count = (state) => uploads.filter((upload) => upload.state === state).length;
    const done = count("accepted") + count("duplicate");
    const parts = [`${done} of ${uploads.length} stored`];
    if (count("duplicate")) parts.push(`${count("duplicate")} already there`);
    if (count("refused")) parts.push(`${count("refused")} refused`);
    if (count("failed")) parts.push(`${count("failed")} failed`);
    if (active || queue.length) parts.push(`${active + queue.length} in progress`);
    summary.textContent = parts.join(" · ");
    retryButton.hidden = count("failed") === 0;
  }

  retryButton.addEventListener("click", () => {
    for (const upload of uploads.filter((each) => each.state === "failed")) {
      upload.row.setProgress(0, 1);
      settle(upload, "queued", "Waiting…");
      queue.push(upload);
    }
    pump();
  });

  input.addEventListener("change", () => {
    add([...input.files]);
    input.value = ""; // choosing the same file again is a new upload
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  dropZone.addEventListener("dragover", (event) => {
    event.preventDefault();
    dropZone.classList.add("drop-zone-active");
  });
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("drop-zone-active"));
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropZone.classList.remove("drop-zone-active");
    add([...event.dataTransfer.files]);
  });
  // A file dropped next to the zone must not replace the page (and stop running uploads).
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
  window.addEventListener("beforeunload", (event) => {
    if (active || queue.length) event.preventDefault();
  });
}

function check(file, types, maxBytes) {
  // The server decides for good; this only spares sending what it would refuse anyway.
  if (file.type && !types.list.includes(file.type)) return `only ${types.names} images are accepted.`;
  if (file.size === 0) return "the file is empty.";
  if (file.size > maxBytes) return `the file is larger than ${Math.floor(maxBytes / 2 ** 20)} MiB.`;
  return null;
}
