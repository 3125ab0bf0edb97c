// The viewer: a photo full-screen over the gallery. Its URL is the photo's own page (/images/<id>, which works
// without script), pushed when it opens, so Back or Esc returns to the gallery as it was: same scroll position,
// search and filter. Previous/next by arrow keys, buttons and swipe; the preview rendition (the original only
// when asked); caption, alt text, tags, facts, job states with their errors, and the actions.
import { getJson, patchJson, postJson } from "./api.js";
import { JOBS, canChange, follow, renderCard, renderTags } from "./cards.js";
import { formatSize, localMoment, utcText } from "./formats.js";
import { watch } from "./poller.js";
import { showToast } from "./toast.js";
import { moveToTrash } from "./trash.js";

const API = document.querySelector('meta[name="images-api"]')?.content ?? "/api/images";
const SWIPE_PX = 50;

export function initViewer(gallery, { loadMore = async () => false, hasMore = () => false } = {}) {
  const dialog = document.getElementById("viewer");
  const stage = document.getElementById("viewer-stage");
  const picture = document.getElementById("viewer-image");
  const editForm = document.getElementById("viewer-edit");
  const field = (name) => dialog.querySelector(`[data-field="${name}"]`);
  const documents = new Map(); // image id -> its JSON, as last fetched
  let current = null;

  const tiles = () => [...gallery.querySelectorAll(".card:not([hidden])")];
  const tileOf = (id) => gallery.querySelector(`.card[data-image-id="${id}"]`);

  async function fetchImage(id) {
    const { status, body } = await getJson(`${API}/${id}`);
    if (status !== 200) return null;
    documents.set(body.id, body);
    return body;
  }

  async function open(id, { history: how = "push" } = {}) {
    const image = documents.get(Number(id)) ?? (await fetchImage(id));
    if (image === null) {
      showToast("This photo is no longer there.");
      return;
    }
    show(image);
    if (!dialog.open) dialog.showModal();
    const state = { viewer: image.id };
    if (how === "push") history.pushState(state, "", image.detail_url);
    else if (how === "replace") history.replaceState(state, "", image.detail_url);
    prefetchNeighbours();
    if (image.status === "processing") followInViewer(image.id);
  }

  function show(image) {
    current = image;
    const source = image.preview_url || image.thumbnail_url;
    picture.hidden = !source;
    if (source) {
      picture.width = image.preview_url ? image.preview_width : image.thumbnail_width || image.width;
      picture.height = image.preview_url ? image.preview_height : image.thumbnail_height || image.height;
      if (picture.getAttribute("src") !== source) picture.src = source;
    }
    picture.alt = image.alt_text || image.caption || image.filename;
    document.getElementById("viewer-title").textContent = image.filename;
    field("caption").textContent = image.caption || "No caption yet.";
    field("alt_text").textContent = image.alt_text || "—";
    renderTags(field("tags"), image.tags);
    field("text_in_image").textContent = image.text_in_image ?? "";
    field("text_in_image_line").hidden = !image.text_in_image;
    const changeable = canChange(image.uploaded_by);
    for (const control of dialog.querySelectorAll('[data-needs="change"]')) control.hidden = !changeable;
    dialog.querySelector('[data-action="retry"]').hidden =
      !changeable || !JOBS.some((job) => image[`${job}_status`] === "failed" || image[`${job}_next_attempt_at`]);
    for (const [name, url] of [["download", image.download_url], ["original", image.original_url]]) {
      field(name).hidden = !url;
      if (url) field(name).href = url;
    }
    field("page").href = image.detail_url;
    renderJobs(image);
    renderFacts(image);
    editForm.hidden = true;
    dialog.querySelector('[data-action="edit"]').setAttribute("aria-expanded", "false");
    const list = tiles();
    const index = list.findIndex((tile) => Number(tile.dataset.imageId) === image.id);
    dialog.querySelector(".viewer-prev").disabled = index <= 0;
    dialog.querySelector(".viewer-next").disabled = index === -1 || (index === list.length - 1 && !hasMore());
  }

  function renderJobs(image) {
    field("jobs").replaceChildren(
      ...JOBS.map((job) => {
        const item = document.createElement("li");
        item.className = "job";
        item.dataset.job = job;
        const name = document.createElement("span");
        name.className = "job-name";
        name.textContent = `${job[0].toUpperCase()}${job.slice(1)}`;
        const badge = document.createElement("span");
        badge.className = `badge badge-${image[`${job}_status`]}`;
        badge.dataset.field = "state";
        badge.textContent = image[`${job}_state_text`];
        item.append(name, badge);
        if (image[`${job}_error`]) {
          const error = document.createElement("p");
          error.className = "job-error";
          error.textContent = image[`${job}_error`];
          item.append(error);
        }
        return item;
      }),
    );
  }

  function renderFacts(image) {
    const facts = [
      ["Caption by", image.caption_model],
      ["Type", image.mime_type],
      ["Dimensions", `${image.width} × ${image.height} px`],
      ["Size", formatSize(image.size_bytes)],
      ["Uploaded", image.uploaded_at],
      ["Taken", image.taken_at && `${image.taken_at.replace("T", " ")} (camera's clock)`],
      ["Camera", [image.camera_make, image.camera_model].filter(Boolean).join(" ")],
      ["Lens", image.lens_model],
      ["Location", image.has_location ? "recorded in the original" : null],
    ];
    const rows = [];
    for (const [label, value] of facts) {
      if (!value) continue;
      const term = document.createElement("dt");
      term.textContent = label;
      const detail = document.createElement("dd");
      if (label === "Uploaded") {
        const time = document.createElement("time");
        time.dateTime = value;
        time.textContent = localMoment(value);
        time.title = utcText(value);
        detail.append(time);
      } else {
        detail.textContent = value;
      }
      rows.push(term, detail);
    }
    field("facts").replaceChildren(...rows);
  }

  function followInViewer(id) {
    watch(id, (image) => {
      if (image === null) return;
      documents.set(image.id, image);
      if (current?.id === image.id && dialog.open) show(image);
    });
  }

  function prefetchNeighbours() {
    const list = tiles();
    const index = list.findIndex((tile) => Number(tile.dataset.imageId) === current.id);
    for (const tile of [list[index - 1], list[index + 1]]) {
      const id = Number(tile?.dataset.imageId);
      if (!tile || documents.has(id)) continue;
      fetchImage(id).then((image) => {
        if (image?.preview_url) new Image().src = image.preview_url; // in the cache before it is shown
      });
    }
  }

  async function go(step) {
    if (!current) return;
    let list = tiles();
    let index = list.findIndex((tile) => Number(tile.dataset.imageId) === current.id);
    if (index + step >= list.length && hasMore()) {
      await loadMore();
      list = tiles();
      index = list.findIndex((tile) => Number(tile.dataset.imageId) === current.id);
    }
    const target = list[index + step];
    if (target) await open(target.dataset.imageId, { history: "replace" });
  }

  function close() {
    if (history.state?.viewer) history.back(); // popstate below closes the dialog
    else finishClosing();
  }

  function finishClosing() {
    if (!dialog.open) return;
    dialog.close();
    const tile = current && tileOf(current.id);
    current = null;
    if (!tile || tile.hidden) return;
    const box = tile.getBoundingClientRect();
    if (box.bottom < 0 || box.top > window.innerHeight) tile.scrollIntoView({ block: "center" });
    tile.querySelector(".thumb").focus({ preventScroll: true });
  }

  window.addEventListener("popstate", (event) => {
    if (event.state?.viewer) open(event.state.viewer, { history: "none" });
    else finishClosing();
  });
  dialog.addEventListener("cancel", (event) => {
    event.preventDefault(); // Esc: close through history, so the URL goes back too
    close();
  });
  document.getElementById("viewer-close").addEventListener("click", close);
  for (const button of dialog.querySelectorAll("[data-go]")) {
    button.addEventListener("click", () => go(Number(button.dataset.go)));
  }
  dialog.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select")) return;
    if (event.key === "ArrowRight") go(1);
    else if (event.key === "ArrowLeft") go(-1);
  });

  let start = null;
  stage.addEventListener("pointerdown", (event) => {
    start = { x: event.clientX, y: event.clientY };
  });
  stage.addEventListener("pointerup", (event) => {
    if (!start) return;
    const dx = event.clientX - start.x;
    const dy = event.clientY - start.y;
    start = null;
    if (Math.abs(dx) > SWIPE_PX && Math.abs(dx) > Math.abs(dy)) go(dx < 0 ? 1 : -1);
  });
  stage.addEventListener("pointercancel", () => {
    start = null;
  });

  async function act(action) {
    const id = current.id;
    if (action === "copy") {
      try {
        await navigator.clipboard.writeText(current.caption ?? "");
        showToast("Caption copied.");
      } catch {
        showToast("The browser did not allow copying; select the caption and copy it instead.");
      }
    } else if (action === "edit") {
      const opening = editForm.hidden;
      editForm.hidden = !opening;
      dialog.querySelector('[data-action="edit"]').setAttribute("aria-expanded", String(opening));
      if (opening) {
        editForm.elements.caption.value = current.caption ?? "";
        editForm.elements.alt_text.value = current.alt_text ?? "";
        editForm.elements.tags.value = current.tags.join(", ");
        editForm.elements.caption.focus();
      }
    } else if (action === "retry" || action === "regenerate") {
      const path = action === "retry" ? "retry" : "caption";
      const { status, body } = await postJson(`${API}/${id}/${path}`, {});
      if (status !== 202) {
        showToast(body?.error ?? `The server answered ${status}.`);
        return;
      }
      updated(body.image);
      showToast(action === "retry" ? "Retrying." : "Asking for a new caption; your own edits stay.");
    } else if (action === "delete") {
      const list = tiles();
      const index = list.findIndex((tile) => Number(tile.dataset.imageId) === id);
      if ((await moveToTrash(gallery, [id])).length === 0) return;
      const next = list[index + 1] ?? list[index - 1];
      if (next) await open(next.dataset.imageId, { history: "replace" });
      else close();
    }
  }

  function updated(image) {
    documents.set(image.id, image);
    show(image);
    const tile = tileOf(image.id);
    if (tile) {
      renderCard(tile, image);
      if (image.status === "processing") follow(tile);
    }
    if (image.status === "processing") followInViewer(image.id);
  }

  dialog.querySelector(".viewer-actions").addEventListener("click", (event) => {
    const action = event.target.closest("[data-action]")?.dataset.action;
    if (action && current) act(action);
  });
  editForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = editForm.elements;
    const tags = form.tags.value.split(",").map((tag) => tag.trim()).filter(Boolean);
    const wanted = { caption: form.caption.value.trim(), alt_text: form.alt_text.value.trim(), tags };
    const body = {};
    if (wanted.caption !== (current.caption ?? "")) body.caption = wanted.caption || null;
    if (wanted.alt_text !== (current.alt_text ?? "")) body.alt_text = wanted.alt_text || null;
    if (wanted.tags.join(",") !== current.tags.join(",")) body.tags = wanted.tags.length ? wanted.tags : null;
    if (Object.keys(body).length === 0) {
      showToast("Nothing changed.");
      return;
    }
    const answer = await patchJson(`${API}/${current.id}`, body);
    if (answer.status !== 200) {
      showToast(answer.body?.error ?? `The server answered ${answer.status}.`);
      return;
    }
    updated(answer.body);
    showToast("Saved your changes.");
  });

  return { open };
}
