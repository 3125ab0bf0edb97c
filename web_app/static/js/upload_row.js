// One file's row in the upload tray: its name (shortened in the middle, so its start and extension stay), size,
// a progress bar of bytes sent, and its outcome - then, once stored, what its jobs are really doing.
import { formatSize } from "./formats.js";

const END_CHARACTERS = 9; // the end kept whole, e.g. "0042.jpeg"

export function makeRow(file) {
  const item = document.createElement("li");
  item.className = "upload";
  const name = document.createElement("span");
  name.className = "upload-name";
  name.title = file.name;
  const cut = Math.max(0, file.name.length - END_CHARACTERS);
  const start = document.createElement("span");
  start.className = "name-start";
  start.textContent = file.name.slice(0, cut);
  const end = document.createElement("span");
  end.className = "name-end";
  end.textContent = file.name.slice(cut);
  name.append(start, end);
  const size = document.createElement("span");
  size.className = "upload-size";
  size.textContent = formatSize(file.size);
  const progress = document.createElement("progress");
  progress.max = 100;
  progress.value = 0;
  progress.setAttribute("aria-label", `Upload of ${file.name}`);
  const outcome = document.createElement("span");
  outcome.className = "upload-outcome";
  outcome.textContent = "Waiting…";
  item.append(name, size, progress, outcome);
  item.dataset.state = "queued";
  return {
    item,
    setProgress(loaded, total) {
      progress.value = total ? Math.round((100 * loaded) / total) : 0;
      if (item.dataset.state === "sending") outcome.textContent = `Uploading… ${progress.value}%`;
    },
    show(state, message, stored) {
      item.dataset.state = state;
      outcome.textContent = message;
      if (stored) outcome.append(" ", viewLink(stored));
    },
    showJobs(image) {
      // The jobs' real state: never "on its way" once something has failed.
      const [text, state] = jobsText(image);
      item.dataset.jobs = state;
      outcome.textContent = text;
      outcome.append(" ", viewLink(image));
    },
  };
}

function viewLink(stored) {
  const link = document.createElement("a");
  link.href = stored.detail_url;
  link.textContent = "View";
  return link;
}

function jobsText(image) {
  for (const job of ["thumbnail", "caption"]) {
    if (image[`${job}_status`] === "failed") return [`Stored, but the ${job} failed: ${image[`${job}_error`]}`, "failed"];
  }
  if (image.caption_state_text === "waiting for a caption provider") {
    return ["Stored; the caption waits for a caption provider (see the notice).", "waiting"];
  }
  if (image.status === "completed") return ["Done: thumbnail and caption are ready.", "completed"];
  const busy = ["thumbnail", "caption"].filter((job) => image[`${job}_status`] !== "completed");
  const parts = busy.map((job) => `${job} ${image[`${job}_state_text`]}`);
  return [`Stored: ${parts.join(", ")}…`, "processing"];
}
