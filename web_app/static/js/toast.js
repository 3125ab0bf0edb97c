// Short messages at the bottom of the screen, some with an action (Undo) that stays offered for a while.
const UNDO_SECONDS = 20; // at least 10 s to change one's mind; the trash keeps the photos far longer anyway

export function showToast(text, { action = null, onAction = null, seconds = action ? UNDO_SECONDS : 6 } = {}) {
  const area = document.getElementById("toasts");
  if (!area) return null;
  const toast = document.createElement("div");
  toast.className = "toast";
  const message = document.createElement("span");
  message.textContent = text;
  toast.append(message);
  const dismiss = () => toast.remove();
  if (action) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button";
    button.textContent = action;
    button.addEventListener("click", () => {
      dismiss();
      onAction();
    });
    toast.append(button);
  }
  const close = document.createElement("button");
  close.type = "button";
  close.className = "icon-button";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "✕";
  close.addEventListener("click", dismiss);
  toast.append(close);
  area.append(toast);
  setTimeout(dismiss, seconds * 1000);
  return toast;
}
