// One file's row in the upload list: name, size, a progress bar of bytes sent, and its outcome.

export function makeRow(file) {
  const item = document.createElement("li");
  item.className = "upload";
  const name = document.createElement("span");
  name.className = "upload-name";
  name.textContent = file.name;
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
      if (stored) {
        const link = document.createElement("a");
        link.href = stored.detail_url;
        link.textContent = "View";
        outcome.append(" ", link);
      }
    },
  };
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 2 ** 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
