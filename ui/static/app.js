// Polyroute admin UI: the small amount of behaviour htmx does not cover. No inline scripts (CSP).
(function () {
  "use strict";

  const csrfToken = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // -- toasts -------------------------------------------------------------------------------
  function dismissLater(toast) {
    window.setTimeout(() => toast.remove(), toast.classList.contains("error") ? 10000 : 5000);
  }

  function toast(kind, message) {
    const region = document.getElementById("toasts");
    if (!region) return;
    const item = document.createElement("div");
    item.className = "toast " + (kind || "info");
    const text = document.createElement("span");
    text.className = "toast-text";
    text.textContent = message;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    item.append(text, close);
    region.append(item);
    dismissLater(item);
  }

  document.addEventListener("polyroute:toast", (evt) => toast(evt.detail.kind, evt.detail.message));
  document.addEventListener("click", (evt) => {
    const close = evt.target.closest(".toast-close");
    if (close) close.closest(".toast").remove();
  });
  document.addEventListener("htmx:sendError", () => toast("error", "The gateway did not answer; check your connection."));

  // -- confirmation dialog for destructive forms ---------------------------------------------
  const confirmed = new WeakSet();
  document.addEventListener("submit", (evt) => {
    const form = evt.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm || confirmed.has(form)) return;
    const dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function") return;
    evt.preventDefault();
    evt.stopImmediatePropagation();
    dialog.querySelector("#confirm-title").textContent = form.dataset.confirmTitle || "Are you sure?";
    dialog.querySelector("#confirm-message").textContent = form.dataset.confirm;
    dialog.querySelector("#confirm-ok").textContent = form.dataset.confirmAction || "Confirm";
    const submitter = evt.submitter;
    dialog.addEventListener("close", function onClose() {
      dialog.removeEventListener("close", onClose);
      if (dialog.returnValue !== "confirm") return;
      confirmed.add(form);
      form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
      confirmed.delete(form);
    });
    dialog.returnValue = "";
    dialog.showModal();
  }, true);

  // -- navigation menu on phones ------------------------------------------------------------
  document.addEventListener("click", (evt) => {
    const toggle = evt.target.closest(".nav-toggle");
    if (!toggle) return;
    const nav = document.getElementById(toggle.getAttribute("aria-controls"));
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    nav.classList.toggle("open", open);
  });

  // -- copy buttons -------------------------------------------------------------------------
  document.addEventListener("click", async (evt) => {
    const button = evt.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    const value = source.value || source.textContent;
    try {
      await navigator.clipboard.writeText(value);
    } catch (_) {
      source.focus();
      source.select && source.select();
      document.execCommand && document.execCommand("copy");
    }
    const label = button.textContent;
    button.textContent = "Copied";
    toast("success", "Copied to the clipboard.");
    window.setTimeout(() => { button.textContent = label; }, 2000);
  });
  document.addEventListener("focusin", (evt) => {
    if (evt.target.matches && evt.target.matches("input[data-select-on-focus]")) evt.target.select();
  });

  // -- repeated form rows (models of a provider, targets of a route) ------------------------
  let rowCounter = 0;
  document.addEventListener("click", (evt) => {
    const add = evt.target.closest("[data-add-row]");
    if (add) {
      const template = document.getElementById(add.dataset.addRow);
      const body = document.querySelector(add.dataset.target);
      if (!template || !body) return;
      rowCounter += 1;
      const token = "n" + Date.now().toString(36) + rowCounter;
      const html = template.innerHTML.split("__ROW__").join(token);
      body.insertAdjacentHTML("beforeend", html);
      const first = body.lastElementChild && body.lastElementChild.querySelector("input, select");
      if (first) first.focus();
      return;
    }
    const remove = evt.target.closest("[data-remove-row]");
    if (remove) {
      const row = remove.closest("tr");
      const body = row && row.parentElement;
      if (row) row.remove();
      if (body) body.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });

  // -- toasts that came with the page (flash) -----------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".toast[data-autohide]").forEach(dismissLater);
  });

  // -- playground: POST the conversation, render the SSE stream as it arrives -------------------
  function setupPlayground() {
    const form = document.getElementById("pg-form");
    if (!form) return;
    const transcript = document.getElementById("pg-transcript");
    const input = document.getElementById("pg-message");
    const send = document.getElementById("pg-send");
    const stop = document.getElementById("pg-stop");
    const messages = [];
    let controller = null;

    function bubble(role, text) {
      const empty = document.getElementById("pg-empty");
      if (empty) empty.remove();
      const item = document.createElement("div");
      item.className = "message " + role;
      const label = document.createElement("span");
      label.className = "role";
      label.textContent = role === "user" ? "You" : role === "error" ? "Error" : "Assistant";
      const body = document.createElement("div");
      body.className = "content";
      body.textContent = text;
      item.append(label, body);
      transcript.append(item);
      return body;
    }

    function fact(name, value) {
      const cell = document.querySelector('[data-fact="' + name + '"]');
      if (cell) cell.textContent = value;
    }

    function showSummary(s) {
      fact("model", s.model || "—");
      fact("attempts", String(s.attempts));
      fact("ttft", s.ttft_ms != null ? Math.round(s.ttft_ms) + " ms" : "—");
      fact("latency", Math.round(s.latency_ms) + " ms");
      fact("tokens", s.prompt_tokens != null ? s.prompt_tokens + " in / " + s.completion_tokens + " out" : "—");
      fact("cost", s.cost_usd != null ? "$" + s.cost_usd.toFixed(6) : "—");
      const cell = document.querySelector('[data-fact="request"]');
      if (cell) {
        cell.textContent = "";
        const link = document.createElement("a");
        link.href = "/ui/requests/" + encodeURIComponent(s.request_id);
        link.textContent = s.request_id;
        cell.append(link);
      }
    }

    function numberOrNull(id) {
      const raw = document.getElementById(id).value.trim();
      return raw === "" || Number.isNaN(Number(raw)) ? null : Number(raw);
    }

    async function readStream(response, target) {
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      let answer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          let event = "message";
          const data = [];
          frame.split("\n").forEach((line) => {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          });
          const text = data.join("\n");
          if (!text || text === "[DONE]") continue;
          let doc;
          try { doc = JSON.parse(text); } catch (_) { continue; }
          if (event === "polyroute") { showSummary(doc); continue; }
          if (doc.error) {
            target.parentElement.classList.add("error");
            answer += (answer ? "\n\n" : "") + (doc.error.message || "The stream failed.");
          }
          const delta = doc.choices && doc.choices[0] && doc.choices[0].delta;
          if (delta && typeof delta.content === "string") answer += delta.content;
          target.textContent = answer;
        }
      }
      return answer;
    }

    async function submit() {
      const text = input.value.trim();
      if (!text || controller) return;
      const system = document.getElementById("pg-system").value.trim();
      messages.push({ role: "user", content: text });
      bubble("user", text);
      input.value = "";
      const target = bubble("assistant", "");
      target.parentElement.classList.add("cursor");
      controller = new AbortController();
      send.disabled = true;
      stop.disabled = false;
      const payload = {
        model: document.getElementById("pg-model").value,
        messages: (system ? [{ role: "system", content: system }] : []).concat(messages),
        temperature: numberOrNull("pg-temperature"),
        max_tokens: numberOrNull("pg-max-tokens"),
      };
      try {
        const response = await fetch(form.action, {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken(), "Accept": "text/event-stream" },
          body: JSON.stringify(payload),
          signal: controller.signal,
          credentials: "same-origin",
        });
        if (!response.ok) {
          let message = "The gateway answered " + response.status + ".";
          try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
          target.parentElement.className = "message error";
          target.textContent = message;
          messages.pop();
          return;
        }
        const answer = await readStream(response, target);
        messages.push({ role: "assistant", content: answer });
      } catch (err) {
        target.parentElement.classList.add("error");
        target.textContent += (target.textContent ? "\n\n" : "") + (err.name === "AbortError" ? "Stopped." : "The connection broke.");
      } finally {
        target.parentElement.classList.remove("cursor");
        controller = null;
        send.disabled = false;
        stop.disabled = true;
        input.focus();
      }
    }

    form.addEventListener("submit", (evt) => { evt.preventDefault(); submit(); });
    input.addEventListener("keydown", (evt) => {
      if (evt.key === "Enter" && (evt.ctrlKey || evt.metaKey)) { evt.preventDefault(); submit(); }
    });
    stop.addEventListener("click", () => controller && controller.abort());
    document.getElementById("pg-reset").addEventListener("click", () => {
      messages.length = 0;
      transcript.textContent = "";
      input.focus();
    });
  }
  document.addEventListener("DOMContentLoaded", setupPlayground);

  window.polyroute = { toast, csrfToken };
})();
