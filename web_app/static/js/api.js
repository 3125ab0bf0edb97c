// JSON requests to the app's own API, as the page's user (session cookie plus the CSRF header).
import { csrfToken } from "./csrf.js";

export async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  return { status: response.status, body: await response.json().catch(() => null) };
}

export async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

export async function patchJson(url, body) {
  const response = await fetch(url, {
    method: "PATCH",
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}
