"use strict";
// A deployment's page while it is pending: its progress lines as they come (polling the progress endpoint), then
// the page again once it ended or its process died, which shows the outcome or the way out.
document.addEventListener("DOMContentLoaded", () => {
  const panel = document.getElementById("iv-run");
  if (!panel || panel.dataset.status !== "pending") return;
  const log = document.getElementById("iv-log");
  const poll = async () => {
    try {
      const response = await fetch(panel.dataset.progressUrl, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok) {
        const progress = await response.json();
        if (progress.status !== "pending" || progress.state !== panel.dataset.state) {
          window.location.reload();
          return;
        }
        if (log && log.textContent !== progress.log) log.textContent = progress.log;
      }
    } catch (error) {
      // the server did not answer this time: the next poll asks again
    }
    window.setTimeout(poll, 2000);
  };
  window.setTimeout(poll, 2000);
});
