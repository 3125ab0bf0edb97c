// Moments in the reader's own time zone (UTC stays in the tooltip), and sizes, as people read them.
const DAY = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
const MOMENT = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function utcText(iso) {
  // "2026-11-28T21:14:03Z" -> "2026-11-28 21:14:03 UTC"
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

export function localMoment(iso) {
  return MOMENT.format(new Date(iso));
}

export function localDayKey(iso) {
  // The calendar day of a UTC moment where the reader is, as YYYY-MM-DD.
  const moment = new Date(iso);
  const pad = (number) => String(number).padStart(2, "0");
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}`;
}

export function dayLabel(key) {
  const [year, month, day] = key.split("-").map(Number);
  return DAY.format(new Date(year, month - 1, day));
}

export function localizeTimes(root) {
  // <time datetime="...Z" data-local>: the server wrote UTC; show the reader's local time, UTC as a tooltip.
  for (const time of root.querySelectorAll("time[data-local]")) {
    const iso = time.getAttribute("datetime");
    if (!iso?.endsWith("Z")) continue;
    time.textContent = localMoment(iso);
    time.title = utcText(iso);
  }
}

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 2 ** 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
