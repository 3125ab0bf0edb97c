// The CSRF token the page was rendered with; scripts send it as the X-CSRFToken header.
export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}
