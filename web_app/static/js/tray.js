// The upload tray, on every page: files dropped anywhere (or chosen on the upload page) are checked, sent one
// request each with progress, three at a time, and followed until their jobs end. Refused files are listed
// first; uploads that failed on the way can be sent again; the tray folds down to its summary line.
import { getJson } from "./api.js";
import { csrfToken } from "./csrf.js";
import { watch } from "./poller.js";
import { sendFile } from "./upload_request.js";
import { makeRow } from "./upload_row.js";

const CONCURRENCY = 3;
const REFUSED = new Set([400, 413, 415]); // the server judged the file: sending it again changes nothing

export function initTray(tray) {
  const list = document.getElementById("upload-list");
  const summary = document.getElementById("upload-summary");
  const retryButton = document.getElementById("retry-uploads");
  const toggle = document.getElementById("tray-toggle");
  const body = document.getElementById("tray-body");
  const maxBytes = Number(tray.dataset.maxBytes);
  const types = { list: tray.dataset.types.split(","), names: tray.dataset.typeNames };
  const uploads = [];
  const queue = [];
  let active = 0;

  function add(files) {
    for (const file of files) {
      const upload = { file, row: makeRow(file), state: "queued" };
      uploads.push(upload);
      const problem = check(file, types, maxBytes);
      if (problem) {
        list.prepend(upload.row.item); // refused files first: they need the reader's attention
        settle(upload, "refused", `Not sent: ${problem}`);
      } else {
        list.append(upload.row.item);
        queue.push(upload);
      }
    }
    tray.hidden = uploads.length === 0;
    pump();
  }

  function pump() {
    while (active < CONCURRENCY && queue.length > 0) send(queue.shift());
    update();
  }

  async function send(upload) {
    active += 1;
    settle(upload, "sending", "Uploading…");
    const { status, body: answer } = await sendFile(tray.dataset.action, upload.file, {
      token: csrfToken(),
      onProgress: (loaded, total) => upload.row.setProgress(loaded, total),
    });
    active -= 1;
    if (status === 202 && answer?.images?.length) {
      const stored = answer.images[0];
      upload.row.setProgress(1, 1);
      if (stored.duplicate) settle(upload, "duplicate", "Already in the gallery (same file).", stored);
      else {
        settle(upload, "accepted", "Uploaded.", stored);
        followJobs(upload, stored);
      }
    } else if (REFUSED.has(status) && answer?.error) {
      list.prepend(upload.row.item);
      settle(upload, "refused", `Refused: ${answer.error}`);
    } else {
      const reason = answer?.error || (status ? `the server answered ${status}` : "the connection failed");
      list.prepend(upload.row.item);
      settle(upload, "failed", `Failed: ${reason}. Retry when ready.`);
    }
    pump();
  }

  async function followJobs(upload, stored) {
    const { status, body: image } = await getJson(stored.status_url);
    if (status !== 200) return;
    upload.row.showJobs(image);
    document.dispatchEvent(new CustomEvent("image-stored", { detail: image }));
    if (image.status === "processing") {
      watch(image.id, (latest) => {
        if (latest) upload.row.showJobs(latest);
        update();
      });
    }
    update();
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
    const jobsFailed = list.querySelectorAll('[data-jobs="failed"]').length;
    if (jobsFailed) parts.push(`${jobsFailed} with a failed job`);
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
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "Hide" : "Show";
    body.hidden = !open;
  });
  window.addEventListener("beforeunload", (event) => {
    if (active || queue.length) event.preventDefault();
  });
  return { add };
}

export function acceptDrops(onFiles) {
  // Drop anywhere: an overlay shows while files are dragged over the page; a drop is never opened as a page.
  const overlay = document.getElementById("drop-overlay");
  const zone = document.getElementById("drop-zone");
  const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
  let depth = 0;
  const done = () => {
    depth = 0;
    overlay.hidden = true;
    zone?.classList.remove("drop-zone-active");
  };
  window.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    depth += 1;
    overlay.hidden = false;
    zone?.classList.add("drop-zone-active");
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) done();
  });
  window.addEventListener("dragover", (event) => {
    event.preventDefault();
    if (carriesFiles(event)) {
      overlay.hidden = false;
      zone?.classList.add("drop-zone-active");
    }
  });
  window.addEventListener("drop", (event) => {
    event.preventDefault();
    done();
    if (event.dataTransfer?.files.length) onFiles([...event.dataTransfer.files]);
  });
}

function check(file, types, maxBytes) {
  // The server decides for good; this only spares sending what it would refuse anyway.
  if (file.type && !types.list.includes(file.type)) return `only ${types.names} images are accepted.`;
  if (file.size === 0) return "the file is empty.";
  if (file.size > maxBytes) return `the file is larger than ${Math.floor(maxBytes / 2 ** 20)} MiB.`;
  return null;
}
