// Date headings: photos grouped by day in the page's order - the day taken when known (the camera's clock has
// no zone, so its date stands as it is), else the day uploaded in the reader's own time zone; each heading's
// tooltip gives the group's upload times in UTC.
import { dayLabel, localDayKey, utcText } from "./formats.js";

export function dayKey(card) {
  const taken = card.dataset.taken;
  return taken ? taken.slice(0, 10) : localDayKey(card.dataset.uploaded);
}

function newSection(key) {
  const section = document.getElementById("day-template").content.firstElementChild.cloneNode(true);
  section.dataset.day = key;
  const time = section.querySelector("time");
  time.dateTime = key;
  time.textContent = dayLabel(key);
  return section;
}

function retitle(section) {
  const cards = [...section.querySelectorAll(".card")];
  const uploads = cards.map((card) => card.dataset.uploaded).filter(Boolean).sort();
  const taken = cards.some((card) => card.dataset.taken);
  const span = uploads.length ? `uploaded ${utcText(uploads[0])} – ${utcText(uploads.at(-1))}` : "";
  section.querySelector("time").title = [taken ? "taken on this day (camera clock)" : "", span].filter(Boolean).join("; ");
}

export function regroup(gallery) {
  // Rebuild the sections from the cards in order (once, when the page opens).
  const cards = [...gallery.querySelectorAll(".card")];
  gallery.replaceChildren();
  appendCards(gallery, cards);
}

export function appendCards(gallery, cards) {
  // Older photos go after the others: into the last day's grid, or new days after it.
  const touched = new Set();
  for (const card of cards) {
    const key = dayKey(card);
    let section = gallery.lastElementChild;
    if (!section || section.dataset.day !== key) {
      section = newSection(key);
      gallery.append(section);
    }
    section.querySelector(".grid").append(card);
    touched.add(section);
  }
  touched.forEach(retitle);
}

export function prependCard(gallery, card) {
  // A new upload goes first: into the first day's grid, or a new day before it.
  const key = dayKey(card);
  let section = gallery.firstElementChild;
  if (!section || section.dataset.day !== key) {
    section = newSection(key);
    gallery.prepend(section);
  }
  section.querySelector(".grid").prepend(card);
  retitle(section);
}

export function dropEmptyDays(gallery) {
  for (const section of gallery.querySelectorAll(".day")) {
    if (!section.querySelector(".card")) section.remove();
  }
}
