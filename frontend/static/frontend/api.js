// The pages' one way to call the JSON API: same-origin JSON with the CSRF token, the error shape read once.
window.VidPrefApi = (() => {
  "use strict";

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // Never throws for an HTTP error: callers decide what a failed answer means on their page.
  async function request(method, url, body) {
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

  return { request };
})();
