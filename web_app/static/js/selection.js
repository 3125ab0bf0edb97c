// Many at once: select tiles by their checkbox (shift-click or Shift+Space selects a range, Ctrl+A all, Esc
// none); while some are selected a click on a tile selects it too. The bar acts through the same API a script
// uses: retry, regenerate captions, move to the trash (with Undo).
import { postJson } from "./api.js";
import { follow } from "./cards.js";
import { showToast } from "./toast.js";
import { moveToTrash } from "./trash.js";

const API = document.querySelector('meta[name="images-api"]')?.content ?? "/api/images";

export function initSelection(gallery) {
  const bar = document.getElementById("bulk-bar");
  if (!bar) return { active: () => false, toggle: () => {} };
  const count = document.getElementById("bulk-count");
  const choosing = document.getElementById("select-toggle"); // a touch screen's way in: no hover shows the boxes
  if (choosing && window.matchMedia("(hover: none)").matches) choosing.hidden = false;
  let anchor = null; // the last box ticked or unticked by hand: one end of a range

  const boxes = () => [...gallery.querySelectorAll(".card:not([hidden]) .select")];
  const chosen = () => boxes().filter((box) => box.checked);
  const ids = () => chosen().map((box) => Number(box.closest(".card").dataset.imageId));

  function update() {
    for (const box of gallery.querySelectorAll(".select")) box.closest(".card").classList.toggle("selected", box.checked);
    const selected = chosen().length;
    gallery.classList.toggle("selecting", selected > 0 || choosing?.getAttribute("aria-pressed") === "true");
    bar.hidden = selected === 0;
    count.textContent = `${selected} selected`;
  }

  function setRange(box, checked) {
    const all = boxes();
    const from = all.indexOf(anchor);
    const to = all.indexOf(box);
    if (from === -1 || to === -1) {
      box.checked = checked;
    } else {
      for (const each of all.slice(Math.min(from, to), Math.max(from, to) + 1)) each.checked = checked;
    }
  }

  function toggle(card, range = false) {
    const box = card.querySelector(".select");
    if (!box) return;
    const checked = !box.checked;
    if (range && anchor) setRange(box, checked);
    else box.checked = checked;
    anchor = box;
    update();
  }

  gallery.addEventListener("click", (event) => {
    const box = event.target.closest(".select");
    if (!box) return;
    if (event.shiftKey && anchor && anchor !== box) setRange(box, box.checked);
    anchor = box;
    update();
  });
  gallery.addEventListener("keydown", (event) => {
    const box = event.target.closest?.(".select");
    if (box && event.key === " " && event.shiftKey) {
      event.preventDefault(); // Shift+Space: the range from the last box to this one
      setRange(box, !box.checked);
      anchor = box;
      update();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (document.querySelector("dialog[open]") || event.target.closest?.("input:not(.select), textarea, select")) return;
    if (event.key === "a" && (event.ctrlKey || event.metaKey) && boxes().length) {
      event.preventDefault();
      for (const box of boxes()) box.checked = true;
      update();
    } else if (event.key === "Escape" && chosen().length) {
      clear();
    }
  });
  gallery.addEventListener("photos-changed", update);

  function clear() {
    for (const box of gallery.querySelectorAll(".select")) box.checked = false;
    anchor = null;
    choosing?.setAttribute("aria-pressed", "false");
    update();
  }

  choosing?.addEventListener("click", () => {
    const on = choosing.getAttribute("aria-pressed") !== "true";
    if (on) {
      choosing.setAttribute("aria-pressed", "true");
      update();
    } else clear();
  });

  async function requeue(path, selected, describe) {
    const { status, body } = await postJson(`${API}/${path}`, { ids: selected });
    if (status !== 202) {
      showToast(body?.error ?? `The server answered ${status}.`);
      return;
    }
    for (const id of body.images) {
      const card = gallery.querySelector(`.card[data-image-id="${id}"]`);
      if (card) follow(card);
    }
    showToast(describe(body));
  }

  bar.addEventListener("click", async (event) => {
    const action = event.target.closest("[data-bulk]")?.dataset.bulk;
    const selected = ids();
    if (!action || (action !== "clear" && selected.length === 0)) return;
    if (action === "clear") clear();
    else if (action === "delete") {
      await moveToTrash(gallery, selected);
      clear();
    } else if (action === "retry") {
      await requeue("retry", selected, (body) => {
        const jobs = body.jobs.thumbnail + body.jobs.caption;
        return jobs ? `Retrying ${jobs} failed job${jobs === 1 ? "" : "s"} of ${body.images.length} photo${body.images.length === 1 ? "" : "s"}.` : "Nothing selected had failed.";
      });
    } else if (action === "regenerate") {
      await requeue("caption", selected, (body) =>
        `Asking for ${body.images.length} new caption${body.images.length === 1 ? "" : "s"}${body.busy.length ? `; ${body.busy.length} being written already` : ""}.`,
      );
    }
  });

  return { active: () => gallery.classList.contains("selecting"), toggle };
}
