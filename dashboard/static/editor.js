// The trigger editor: presets fill the cron field; the schedule is previewed as you type, by
// the same checks a save makes (the dashboard's preview endpoint, which calls the API's).
(function () {
  const form = document.getElementById("editor");
  if (!form) return;
  const cron = document.getElementById("cron_expression");
  const zone = document.getElementById("cron_timezone");
  const jitter = document.getElementById("jitter_seconds");
  const description = document.getElementById("preview-description");
  const error = document.getElementById("preview-error");
  const list = document.getElementById("preview-instants");
  const token = form.querySelector("input[name=csrf_token]").value;
  let timer = null;

  function show(answer) {
    list.textContent = "";
    if (answer.errors) {
      description.textContent = "";
      error.textContent = answer.errors.map((e) => e.field + ": " + e.message).join("; ");
      return;
    }
    error.textContent = "";
    description.textContent = answer.schedule_description;
    for (const i of answer.instants) {
      const item = document.createElement("li");
      item.textContent = i.local + "  (" + i.utc + ")";
      list.appendChild(item);
    }
  }

  async function preview() {
    const body = { cron_expression: cron.value.trim() || null, cron_timezone: zone.value || "UTC",
                   jitter_seconds: Number(jitter.value || 0), count: 5 };
    const response = await fetch(form.dataset.preview, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
      body: JSON.stringify(body),
    });
    show(await response.json());
  }

  function later() { clearTimeout(timer); timer = setTimeout(preview, 250); }
  document.getElementById("preset").addEventListener("change", (event) => {
    if (event.target.value) { cron.value = event.target.value; later(); }
  });
  for (const input of [cron, zone, jitter]) input.addEventListener("input", later);
  if (cron.value) preview();
})();
