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
