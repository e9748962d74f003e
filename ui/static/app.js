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

  window.polyroute = { toast, csrfToken };
})();
