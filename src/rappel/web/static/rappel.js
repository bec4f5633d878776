// Shared helpers of the agent desktop and the supervisor dashboard (plain ES module).

export class ApiError extends Error {
  constructor(status, detail, field) {
    super(detail);
    this.status = status;
    this.field = field;
  }
}

/** JSON request to the same origin with the session cookie; problem+json becomes ApiError. */
export async function api(method, path, body, headers = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    if (typeof body === "string") {
      init.body = body;
    } else {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
  }
  const answer = await fetch(path, init);
  const text = await answer.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!answer.ok) {
    const detail = (data && (data.detail || data.message)) || (typeof data === "string" && data) || answer.statusText;
    throw new ApiError(answer.status, detail, data && data.field);
  }
  return data;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  seconds = Math.max(0, Math.round(seconds));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

export function clockTime(iso, zone) {
  if (!iso) return "—";
  return new Intl.DateTimeFormat(undefined, {
    hour: "2-digit", minute: "2-digit", timeZone: zone || undefined,
  }).format(new Date(iso));
}

let toastTimer = null;
export function toast(message, bad = false) {
  let node = $("#toast");
  if (!node) {
    node = el("div", { id: "toast", class: "toast", role: "status", "aria-live": "polite" });
    document.body.append(node);
  }
  node.textContent = message;
  node.classList.toggle("bad", bad);
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, 4000);
}

/**
 * Shows the login form until a user with one of `roles` is logged in; resolves with /v1/auth/me.
 * The form is in the page (#login); the app (#app) stays hidden until then.
 */
export async function requireLogin(roles) {
  try {
    const me = await api("GET", "/v1/auth/me");
    if (roles.includes(me.role)) return me;
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
  }
  const form = $("#login");
  form.hidden = false;
  $("#login-tenant").focus();
  return new Promise((resolve) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = $("#login-error");
      error.textContent = "";
      try {
        const me = await api("POST", "/v1/auth/login", {
          tenant: $("#login-tenant").value,
          username: $("#login-username").value,
          password: $("#login-password").value,
        });
        if (!roles.includes(me.role)) {
          error.textContent = `This page is for ${roles.join(" or ")} users; ${me.role} accounts cannot use it.`;
          await api("POST", "/v1/auth/logout");
          return;
        }
        form.hidden = true;
        resolve(me);
      } catch (failure) {
        error.textContent = failure.message;
      }
    });
  });
}

export async function logout() {
  try { await api("POST", "/v1/auth/logout"); } finally { location.reload(); }
}
