// Toasts fade after a while; errors stay until clicked.
document.addEventListener("click", (e) => {
  const toast = e.target.closest(".toast");
  if (toast) toast.remove();
});
document.addEventListener("htmx:afterSwap", () => {
  document.querySelectorAll(".toast.info").forEach((t) => setTimeout(() => t.remove(), 4000));
});
// Keep the active navigation item marked.
document.addEventListener("DOMContentLoaded", () => {
  const first = location.pathname.split("/")[1] || "contracts";
  const key = first === "admin" ? "users" : first;
  document.querySelectorAll("nav.main a").forEach((a) => {
    if (a.dataset.nav === key) a.setAttribute("aria-current", "page");
  });
});
// Upload: drag-and-drop onto the drop zone, the chosen file's name, and a progress bar from htmx's XHR.
document.addEventListener("DOMContentLoaded", () => {
  const zone = document.getElementById("dropzone");
  if (!zone) return;
  const input = zone.querySelector("input[type=file]");
  const chosen = zone.querySelector(".chosen");
  const show = () => { chosen.textContent = input.files.length ? input.files[0].name : ""; };
  input.addEventListener("change", show);
  ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.remove("over"); }));
  zone.addEventListener("drop", (e) => { if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; show(); } });
});
document.addEventListener("htmx:xhr:progress", (e) => {
  const bar = document.getElementById("upload-progress");
  if (bar && e.detail.lengthComputable) bar.value = Math.round((e.detail.loaded / e.detail.total) * 100);
});
// Handlers that used to be inline: the content security policy allows scripts from /static only.
// The month picked in the statements' totals table is swapped in by HTMX: keep the month filter showing it.
document.addEventListener("htmx:afterSettle", () => {
  const results = document.getElementById("results");
  const input = document.querySelector("#statement-filters [name=month]");
  if (results && input && results.dataset.month) input.value = results.dataset.month;
});
// A select that submits its form when changed (carbon factors' year).
document.addEventListener("change", (e) => {
  if (e.target.matches("select[data-autosubmit]")) e.target.form.submit();
});
// The month's statements zip: /settlements/period/<month>.zip.
document.addEventListener("submit", (e) => {
  const form = e.target;
  if (!form.matches("form[data-period-zip]")) return;
  e.preventDefault();
  location.href = "/settlements/period/" + form.month.value + ".zip";
});
// The settlements list: "select this page" ticks every row's box; "all matching the filter" stands for them all.
document.addEventListener("change", (e) => {
  if (!e.target.matches("input[data-select-page]")) return;
  e.target.form.querySelectorAll("input[name=number]").forEach((box) => { box.checked = e.target.checked; });
});
