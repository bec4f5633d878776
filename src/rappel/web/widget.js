/*
 * Rappel call-me-back widget. Embed with one line:
 *   <script src="https://rappel.example.com/widget.js" data-key="YOUR-WIDGET-KEY" async></script>
 * Optional attributes: data-target="#css-selector" (render into that element instead of
 * after the script), data-title="Call me back", data-accent="#2f5bea".
 * Everything renders inside a shadow root so the host page's CSS cannot break it and
 * it cannot break the host page. It talks only to the server it was loaded from.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var base = new URL(script.src, location.href).origin;
  var key = script.getAttribute("data-key") || "";
  var title = script.getAttribute("data-title") || "Call me back";
  var accent = script.getAttribute("data-accent") || "";
  var uid = "rw" + Math.random().toString(36).slice(2, 8);

  var host = document.createElement("div");
  host.className = "rappel-widget";
  var target = script.getAttribute("data-target");
  var place = target && document.querySelector(target);
  if (place) place.appendChild(host);
  else script.parentNode.insertBefore(host, script.nextSibling);
  var root = host.attachShadow({ mode: "open" });
  var link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = base + "/static/widget.css";
  root.appendChild(link);
  var box = el("section", { class: "rw", "aria-labelledby": uid + "-title" });
  if (/^#[0-9a-fA-F]{3,8}$/.test(accent)) box.style.setProperty("--accent", accent);
  root.appendChild(box);

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function api(path, options) {
    var sep = path.indexOf("?") < 0 ? "?" : "&";
    return fetch(base + "/v1/widget/" + path + sep + "key=" + encodeURIComponent(key), options)
      .then(function (answer) {
        return answer.json().catch(function () { return {}; }).then(function (body) {
          return { status: answer.status, body: body };
        });
      });
  }

  function unavailable(text) {
    box.replaceChildren(
      el("h2", { id: uid + "-title", text: title }),
      el("p", { class: "unavailable", role: "alert", text: text })
    );
  }

  var config = null;
  var zoneFormat = null;

  function formatTime(iso, withDay) {
    var options = { hour: "2-digit", minute: "2-digit", timeZone: config.time_zone };
    if (withDay) { options.weekday = "long"; options.day = "numeric"; options.month = "long"; }
    options.timeZoneName = "short";
    return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
  }

  function localDate(offsetDays) {
    var now = new Date(Date.now() + offsetDays * 86400000);
    var parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: config.time_zone, year: "numeric", month: "2-digit", day: "2-digit"
    }).format(now);
    return parts; // YYYY-MM-DD
  }

  api("config", { credentials: "omit" }).then(function (answer) {
    if (answer.status === 404) return unavailable("This call-me-back form is not set up correctly: unknown widget key.");
    if (answer.status !== 200) return unavailable(answer.body.detail || "The call-me-back service is not available on this website.");
    config = answer.body;
    render();
  }, function () {
    unavailable("The call-me-back service is not available on this website.");
  });

  function render() {
    var f = function (id) { return uid + "-" + id; };
    var phone = el("input", {
      id: f("phone"), type: "tel", name: "phone", autocomplete: "tel", required: "",
      inputmode: "tel", "aria-describedby": f("phone-hint") + " " + f("phone-error"),
      placeholder: "+1 650 555 1212"
    });
    var name = el("input", { id: f("name"), type: "text", name: "name", autocomplete: "name" });
    var trap = el("div", { class: "trap", "aria-hidden": "true" }, [
      el("label", { for: f("website"), text: "Website (leave empty)" }),
      el("input", { id: f("website"), type: "text", name: "website", tabindex: "-1", autocomplete: "off" })
    ]);
    var estimateNote = el("span", { class: "note", id: f("estimate") });
    var delay = el("select", { id: f("delay"), "aria-label": "Minutes from now" });
    config.delays.forEach(function (m) {
      delay.appendChild(el("option", { value: String(m), text: m < 60 ? m + " minutes" : (m / 60) + (m === 60 ? " hour" : " hours") }));
    });
    var day = el("input", { id: f("day"), type: "date", "aria-label": "Day", min: localDate(0), max: localDate(config.days_ahead), value: localDate(0) });
    var slot = el("select", { id: f("slot"), "aria-label": "Time slot" });
    var slotNote = el("p", { class: "hint", id: f("slot-note"), "aria-live": "polite" });

    function radio(value, label, extra) {
      var input = el("input", { type: "radio", name: f("when"), value: value, id: f("when-" + value) });
      return el("div", {}, [el("label", { class: "choice", for: f("when-" + value) }, [input, document.createTextNode(label), extra || null])]);
    }
    var whenNow = radio("now", "Call me now", estimateNote);
    var whenIn = radio("in", "Call me in…");
    var whenSlot = radio("slot", "Call me at a time I choose");
    whenNow.querySelector("input").checked = true;
    var moreIn = el("div", { class: "more", hidden: "" }, [delay]);
    var moreSlot = el("div", {}, [el("div", { class: "more", hidden: "" }, [day, slot]), slotNote]);
    var phoneError = el("p", { class: "error", id: f("phone-error"), role: "alert" });
    var formError = el("p", { class: "error", role: "alert" });
    var submit = el("button", { type: "submit", text: "Call me back" });
    var form = el("form", { novalidate: "" }, [
      el("label", { for: f("phone"), text: "Your phone number" }), phone,
      el("p", { class: "hint", id: f("phone-hint"), text: "With the country code if you are abroad." }),
      phoneError,
      el("label", { for: f("name"), text: "Your name (optional)" }), name,
      trap,
      el("fieldset", {}, [el("legend", { text: "When should we call?" }), whenNow, whenIn, moreIn, whenSlot, moreSlot]),
      formError, submit
    ]);
    box.replaceChildren(
      el("h2", { id: f("title"), text: title }),
      el("p", { class: "sub", text: "Leave your number and " + config.tenant + " will call you back." }),
      form,
      el("p", { class: "foot", text: "Your number is used only to call you back." })
    );

    function choice() { return form.querySelector("input[name='" + f("when") + "']:checked").value; }
    function showChoice() {
      moreIn.hidden = choice() !== "in";
      moreSlot.firstChild.hidden = choice() !== "slot";
      slotNote.hidden = choice() !== "slot";
      if (choice() === "slot" && !slot.options.length) loadSlots();
    }
    form.addEventListener("change", function (event) {
      if (event.target.name === f("when")) showChoice();
    });
    day.addEventListener("change", loadSlots);

    function loadSlots() {
      slot.replaceChildren();
      slotNote.textContent = "Loading times…";
      api("availability?date=" + encodeURIComponent(day.value), { credentials: "omit" }).then(function (answer) {
        if (answer.status !== 200) { slotNote.textContent = answer.body.detail || "Times are not available."; return; }
        var open = 0;
        answer.body.slots.forEach(function (s) {
          var option = el("option", { value: s.start, text: formatTime(s.start) + (s.available ? "" : " (full)") });
          if (!s.available) option.disabled = true; else open += 1;
          slot.appendChild(option);
        });
        var first = Array.prototype.find.call(slot.options, function (o) { return !o.disabled; });
        if (first) first.selected = true;
        slotNote.textContent = open ? open + " times available." : "No times left that day; please choose another day.";
      }, function () { slotNote.textContent = "Times are not available."; });
    }

    function loadEstimate() {
      api("estimate", { credentials: "omit" }).then(function (answer) {
        if (answer.status !== 200) return;
        var e = answer.body;
        if (!e.open) {
          estimateNote.textContent = " — we are closed now; we open at " + formatTime(e.opens_at, true) + ".";
          whenNow.querySelector("input").disabled = true;
          whenIn.querySelector("input").disabled = true;
          whenSlot.querySelector("input").checked = true;
          showChoice();
        } else if (e.wait_s === null) {
          estimateNote.textContent = " — as soon as an agent is free";
        } else {
          var minutes = Math.round(e.wait_s / 60);
          estimateNote.textContent = minutes < 1 ? " — within a minute or two" : " — in about " + minutes + " min";
        }
      }, function () {});
    }
    loadEstimate();

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      phoneError.textContent = "";
      formError.textContent = "";
      phone.removeAttribute("aria-invalid");
      if (!phone.value.trim()) {
        phone.setAttribute("aria-invalid", "true");
        phoneError.textContent = "Please enter your phone number.";
        phone.focus();
        return;
      }
      var body = {
        key: key, phone: phone.value, name: name.value, when: choice(),
        website: trap.querySelector("input").value
      };
      if (body.when === "in") body.delay_minutes = parseInt(delay.value, 10);
      if (body.when === "slot") {
        if (!slot.value) { formError.textContent = "Please choose a time."; slot.focus(); return; }
        body.slot_start = slot.value;
      }
      submit.disabled = true;
      submit.textContent = "Sending…";
      api("callbacks", {
        method: "POST", credentials: "omit",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
      }).then(function (answer) {
        submit.disabled = false;
        submit.textContent = "Call me back";
        if (answer.status === 201) return showDone(answer.body, body.when);
        var detail = answer.body.detail || "Something went wrong; please try again.";
        if (answer.status === 429) detail = answer.body.detail || "Too many requests; please try again later.";
        if (answer.body.field === "phone") {
          phone.setAttribute("aria-invalid", "true");
          phoneError.textContent = detail;
          phone.focus();
        } else {
          formError.textContent = detail;
        }
      }, function () {
        submit.disabled = false;
        submit.textContent = "Call me back";
        formError.textContent = "The call-me-back service cannot be reached; please try again later.";
      });
    });
  }

  function showDone(done, when) {
    var heading = el("h2", { id: uid + "-title", tabindex: "-1", text: "Thank you — we will call you" });
    var text = when === "now" ? "We will call you as soon as possible (from " + formatTime(done.start_time) + ")."
      : when === "slot" ? "We will call you on " + formatTime(done.start_time, true) + " – " + formatTime(done.end_time) + "."
      : "We will call you from " + formatTime(done.start_time, true) + ".";
    var parts = [heading, el("p", { role: "status", text: text })];
    if (done.cancel_url) {
      parts.push(el("p", {}, [
        document.createTextNode("Changed your mind? "),
        el("a", { href: done.cancel_url, target: "_blank", rel: "noopener", text: "Cancel the callback" })
      ]));
    }
    box.replaceChildren(el("div", { class: "done" }, parts));
    heading.focus();
  }
})();
