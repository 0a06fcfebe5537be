/* Comptoir store terminal: scanner-friendly forms, audible feedback, countdowns. Plain JS, no build step.
 *
 * - A form marked data-fragment is sent in the background and its answer (a fragment of HTML)
 *   replaces the element named by data-target. What was typed is captured at once and the scan
 *   field emptied, and the requests go one after another: a scanner typing fast loses nothing.
 * - Any element with data-feedback="ok|wrong|done|kerbside" that appears plays a beep
 *   (WebAudio, no sound files): a high short one for right, a low buzz for wrong, a rising
 *   chime when done. window.comptoirBeeps keeps what was played (the browser tests read it).
 * - The scan field ([data-scan-field]) has the focus after every action; a key typed while
 *   nothing is focused goes to it, so a scanner is never lost.
 */
(function () {
  "use strict";
  var beeps = (window.comptoirBeeps = []);
  var audio = null;
  var TONES = {
    ok: { type: "sine", notes: [[1046, 0.09]] },
    wrong: { type: "square", notes: [[196, 0.16], [0, 0.06], [196, 0.22]] },
    done: { type: "sine", notes: [[784, 0.09], [1046, 0.09], [1318, 0.18]] },
    kerbside: { type: "triangle", notes: [[988, 0.14], [0, 0.05], [740, 0.24]] },
  };

  function beep(kind) {
    var tone = TONES[kind];
    if (!tone) return;
    beeps.push(kind);
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === "suspended") audio.resume();
      var t = audio.currentTime + 0.01;
      tone.notes.forEach(function (note) {
        var freq = note[0], length = note[1];
        if (freq) {
          var osc = audio.createOscillator(), gain = audio.createGain();
          osc.type = tone.type;
          osc.frequency.value = freq;
          gain.gain.setValueAtTime(0.0001, t);
          gain.gain.exponentialRampToValueAtTime(0.3, t + 0.01);
          gain.gain.exponentialRampToValueAtTime(0.0001, t + length);
          osc.connect(gain);
          gain.connect(audio.destination);
          osc.start(t);
          osc.stop(t + length + 0.02);
        }
        t += length;
      });
    } catch (e) {
      /* no sound card: the colours and words still say it */
    }
  }

  function feedbackIn(root) {
    if (!root) return;
    var el = root.matches && root.matches("[data-feedback]") ? root : root.querySelector("[data-feedback]");
    if (el) beep(el.getAttribute("data-feedback"));
  }

  // ------------------------------------------------------------------ focus
  function scanField() {
    return document.querySelector("[data-scan-field]");
  }

  function refocus(force) {
    var field = scanField();
    if (!field) return;
    var active = document.activeElement;
    var idle = !active || active === document.body || active.tagName === "BUTTON" || active.tagName === "MAIN";
    if (force || idle) field.focus();
  }

  // what a scan field holds (the last search) is selected, so that the next scan replaces it
  document.addEventListener("focusin", function (ev) {
    var el = ev.target;
    if (el && el.hasAttribute && el.hasAttribute("data-scan-field") && el.value) el.select();
  });

  document.addEventListener("keydown", function (ev) {
    var active = document.activeElement;
    var idle = !active || active === document.body || active.tagName === "MAIN";
    if (idle && ev.key && ev.key.length === 1 && !ev.ctrlKey && !ev.metaKey && !ev.altKey) refocus(true);
  });

  // ------------------------------------------------------------------ fragment forms, one after another
  var queue = [];
  var busy = false;

  function csrf() {
    return document.body.getAttribute("data-csrf") || "";
  }

  function formData(form, submitter) {
    var data;
    try {
      data = new FormData(form, submitter || undefined);
    } catch (e) {
      data = new FormData(form);
      if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    }
    return new URLSearchParams(data);
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-fragment")) return;
    ev.preventDefault();
    var body = formData(form, ev.submitter);
    var field = form.querySelector("[data-scan-field]");
    if (field && !field.value.trim()) return; // Enter on an empty field: nothing to send
    form.querySelectorAll("[data-scan-field]").forEach(function (f) { f.value = ""; });
    form.querySelectorAll("[data-reset]").forEach(function (f) { f.value = f.getAttribute("data-reset"); });
    queue.push({ url: form.action, body: body, target: form.getAttribute("data-target") });
    document.body.classList.add("busy");
    pump();
    refocus(true);
  });

  function pump() {
    if (busy) return;
    var job = queue.shift();
    if (!job) {
      document.body.classList.remove("busy");
      return;
    }
    busy = true;
    fetch(job.url, {
      method: "POST",
      body: job.body,
      credentials: "same-origin",
      headers: { "HX-Request": "true", "X-CSRF-Token": csrf() },
    })
      .then(function (response) {
        var go = response.headers.get("HX-Redirect");
        if (go) {
          window.location.href = go;
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (html === null) return;
        var target = document.querySelector(job.target);
        if (!target) return;
        var holder = document.createElement("div");
        holder.innerHTML = html.trim();
        var fresh = holder.firstElementChild;
        if (!fresh) return;
        target.replaceWith(fresh);
        if (window.htmx) window.htmx.process(fresh);
        feedbackIn(fresh);
        tick();
      })
      .catch(function () {
        beep("wrong");
        var note = document.getElementById("terminal-unreachable");
        if (note) note.hidden = false;
      })
      .finally(function () {
        busy = false;
        refocus(false);
        pump();
      });
  }

  // ------------------------------------------------------------------ countdowns to the deadline to accept
  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var ms = Date.parse(el.getAttribute("data-deadline")) - now;
      if (isNaN(ms)) return;
      if (ms <= 0) {
        el.textContent = el.getAttribute("data-overdue");
        el.classList.add("overdue");
        return;
      }
      var s = Math.floor(ms / 1000);
      el.textContent = Math.floor(s / 3600) + ":" + pad(Math.floor((s % 3600) / 60)) + ":" + pad(s % 60);
      el.classList.toggle("soon", ms < 15 * 60 * 1000);
    });
  }

  // ------------------------------------------------------------------ kerbside arrivals: a chime for each new one
  function kerbsideChime(root) {
    var seen = {};
    try {
      seen = JSON.parse(window.sessionStorage.getItem("comptoir-kerbside-seen") || "{}");
    } catch (e) {
      seen = {};
    }
    var fresh = false;
    (root || document).querySelectorAll("[data-testid=kerbside]").forEach(function (el) {
      var id = el.getAttribute("data-assignment-id");
      if (!seen[id]) fresh = seen[id] = true;
    });
    if (!fresh) return;
    beep("kerbside");
    try {
      window.sessionStorage.setItem("comptoir-kerbside-seen", JSON.stringify(seen));
    } catch (e) {
      /* private mode: it chimes again on the next page, no harm */
    }
  }

  window.comptoir = {
    beep: beep,
    /** true when the focus is not inside the element: a poll may replace it without losing what is typed */
    idle: function (id) {
      var el = document.getElementById(id);
      return !el || !el.contains(document.activeElement);
    },
  };

  document.addEventListener("htmx:afterSwap", function (ev) {
    if (ev.target && ev.target.id === "kerbside") kerbsideChime(document.getElementById("kerbside"));
    tick();
    refocus(false);
  });
  document.addEventListener("htmx:afterSettle", function (ev) {
    var el = document.getElementById("kerbside");
    if (el && el.contains(ev.target)) kerbsideChime(el);
  });

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest && ev.target.closest("[data-print]");
    if (button) window.print();
  });

  function start() {
    var main = document.getElementById("main");
    feedbackIn(main);
    kerbsideChime(document);
    tick();
    setInterval(tick, 1000);
    refocus(false);
    var field = scanField();
    // the last search, as the page came: selected so that a scan replaces it (not what is being typed now)
    if (field && document.activeElement === field && field.value && field.value === field.defaultValue) field.select();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
