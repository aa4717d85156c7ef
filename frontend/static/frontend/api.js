// The pages' one way to call the JSON API (same-origin JSON with the CSRF token, the error shape read once) and
// the one way to follow something that changes on the server (poll).
function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

// Never throws for an HTTP error: callers decide what a failed answer means on their page.
export async function request(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  const error = (data && data.error) || {};
  return {
    ok: response.ok, status: response.status, statusText: response.statusText, data,
    message: error.message || `The server answered ${response.status}.`, fields: error.fields || {},
  };
}

// Runs `step` after `first` ms, then again after as many ms as it returns; a step that returns nothing (null or
// undefined) stops. A step that throws (no connection, a 5xx it chose to throw for) runs again after `retry` ms.
export function poll(step, { first = 0, retry = 10_000 } = {}) {
  const tick = async () => {
    let next;
    try {
      next = await step();
    } catch (error) {
      next = retry;
    }
    if (typeof next === "number") setTimeout(tick, next);
  };
  setTimeout(tick, first);
}
