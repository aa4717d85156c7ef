// Datasets page: follow queued and running versions until they finish, then reload to show their files.
(function () {
  const live = Array.from(document.querySelectorAll("tr[data-live]"));
  if (!live.length) return;

  async function poll() {
    for (const row of live) {
      const answer = await window.VidPrefApi.request("GET", `/api/v1/exports/${row.dataset.version}/`);
      if (!answer.ok) continue;
      const version = answer.data;
      if (version.status === "succeeded" || version.status === "failed") {
        window.location.reload();
        return;
      }
      const status = row.querySelector(".status");
      status.textContent = version.status;
      status.className = `status ${version.status}`;
      const bar = row.querySelector(".progress > span");
      if (bar) bar.style.width = `${Math.round(version.progress * 100)}%`;
    }
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 1000);
})();
