// seize web page: picks a reference (gallery, text search or upload), runs the composed search
// over the JSON API of include/seize/serve.h (streamed progress), and shows the ranked grid and
// why it ranked so (captions, edits, a, b and the semantic increment). Plain JS, no build step,
// nothing fetched from outside the server.
"use strict";
(function () {
  const $ = (sel) => document.querySelector(sel);
  const TOKEN_KEY = "seize.token";
  const PAGE = 60; // gallery names per request
  const STAGES = {
    caption: "Captioning the image",
    edit: "Editing the captions",
    encode: "Encoding",
    search: "Searching",
  };
  const state = {
    info: null,
    token: sessionStorage.getItem(TOKEN_KEY) || "",
    ref: null, // {name} | {upload: {file, url}}
    gallery: { q: "", offset: 0, total: 0, loading: false, gen: 0 },
    thumbs: new Map(), // name -> object URL (only when a token is needed for images)
    search: null, // AbortController of the search in flight
  };

  // --- the API -----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  let tokenPrompt = null;
  function askToken(wrong) {
    if (!tokenPrompt) {
      tokenPrompt = new Promise((resolve) => {
        const dlg = $("#token-dialog");
        const err = $("#token-error");
        err.hidden = !wrong;
        err.textContent = wrong ? "The server refused that token; try again." : "";
        $("#token-input").value = "";
        dlg.addEventListener(
          "close",
          () => {
            state.token = $("#token-input").value.trim();
            sessionStorage.setItem(TOKEN_KEY, state.token);
            state.thumbs.clear();
            tokenPrompt = null;
            resolve();
          },
          { once: true }
        );
        dlg.showModal();
      });
    }
    return tokenPrompt;
  }

  // fetch with the bearer token; a 401 asks for the token and tries again.
  async function api(path, opts = {}) {
    for (let attempt = 0; ; attempt++) {
      const headers = Object.assign({}, opts.headers || {});
      if (state.token) headers.Authorization = "Bearer " + state.token;
      let res;
      try {
        res = await fetch(path, Object.assign({}, opts, { headers }));
      } catch (e) {
        if (e.name === "AbortError") throw e;
        throw new ApiError("Cannot reach the server (" + e.message + "). Is seize serve still running?", 0);
      }
      if (res.status !== 401) return res;
      await askToken(attempt > 0 || state.token !== "");
    }
  }

  async function errorOf(res) {
    let msg = "";
    try {
      const body = await res.json();
      msg = body && body.error && body.error.message;
    } catch (e) {
      /* not JSON: the status line says it */
    }
    if (res.status === 503) {
      const after = res.headers.get("Retry-After");
      msg = (msg || "The server is busy") + (after ? " (try again in " + after + " s)" : "");
    }
    return new ApiError(msg || "The server answered " + res.status + " " + res.statusText, res.status);
  }

  async function apiJSON(path, body, signal) {
    const opts = body === undefined ? { signal } : {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal,
    };
    const res = await api(path, opts);
    if (!res.ok) throw await errorOf(res);
    return res.json();
  }

  function imageURL(name, thumb) {
    return "/v1/images/" + encodeURIComponent(name) + (thumb ? "?thumb=1" : "");
  }

  // An <img> cannot send a header: with a token, thumbnails come through fetch as blobs.
  async function setImage(img, name, thumb) {
    img.alt = name;
    if (!state.info || !state.info.gallery) return;
    if (!state.token) {
      img.src = imageURL(name, thumb);
      return;
    }
    const key = name + (thumb ? "#t" : "");
    if (!state.thumbs.has(key)) {
      try {
        const res = await api(imageURL(name, thumb));
        if (!res.ok) return;
        state.thumbs.set(key, URL.createObjectURL(await res.blob()));
      } catch (e) {
        return;
      }
    }
    img.src = state.thumbs.get(key);
  }

  // --- messages ------------------------------------------------------------------------------

  function showError(msg) {
    const el = $("#error");
    el.textContent = msg;
    el.hidden = false;
  }
  function clearError() {
    $("#error").hidden = true;
    $("#error").textContent = "";
  }
  function setState(s) {
    document.body.dataset.state = s;
  }
  // toFixed, but never "-0.000"
  const fmt = (x, d = 3) => (typeof x === "number" && isFinite(x) ? (Math.abs(x) < 0.5 * 10 ** -d ? 0 : x).toFixed(d) : "–");
  const sizeText = (n) => (n < 1024 ? n + " bytes" : n < 1048576 ? Math.round(n / 1024) + " KB" : (n / 1048576).toFixed(1) + " MB");
  const plural = (n, one, many) => n.toLocaleString() + " " + (n === 1 ? one : many || one + "s");

  // --- tiles and grids -----------------------------------------------------------------------

  function makeTile(item, opts = {}) {
    const li = $("#tile-template").content.firstElementChild.cloneNode(true);
    const btn = li.querySelector(".tile");
    btn.dataset.name = item.name;
    setImage(li.querySelector("img"), item.name, true);
    li.querySelector(".name").textContent = item.name;
    li.querySelector(".name").title = item.name;
    let label = item.name;
    if (item.rank !== undefined) {
      li.querySelector(".rank").textContent = "#" + item.rank;
      li.querySelector(".score").textContent = fmt(item.score);
      label = "Rank " + item.rank + ": " + item.name + ", score " + fmt(item.score);
    } else {
      li.querySelector(".rank").remove();
      li.querySelector(".score").remove();
    }
    if (item.a !== undefined) btn.appendChild(miniBars(item, opts.scale));
    btn.setAttribute("aria-label", label + ". Use as the reference");
    btn.title = "Use " + item.name + " as the reference";
    if (state.ref && state.ref.name === item.name) btn.classList.add("selected");
    btn.addEventListener("click", () => chooseName(item.name, opts.focusChange));
    return li;
  }

  // a, b as bars from 0 to the largest; the increment diverging from the middle.
  function miniBars(r, scale) {
    const box = document.createElement("span");
    box.className = "bars";
    box.setAttribute("aria-hidden", "true");
    // a bar from position z to position p (fractions of the track)
    const row = (cls, label, value, z, p) => {
      const line = document.createElement("span");
      line.className = "bar-row";
      line.innerHTML = '<span class="bar-label"></span><span class="bar-track"><span class="bar"></span></span><span class="bar-value"></span>';
      line.querySelector(".bar-label").textContent = label;
      const bar = line.querySelector(".bar");
      // cls may hold two classes ("bar-inc neg")
      bar.className = "bar " + cls;
      const clamp = (x) => Math.min(1, Math.max(0, x));
      bar.style.left = (100 * clamp(Math.min(z, p))).toFixed(1) + "%";
      bar.style.width = (100 * Math.abs(clamp(p) - clamp(z))).toFixed(1) + "%";
      line.querySelector(".bar-value").textContent = fmt(value);
      box.appendChild(line);
    };
    const span = scale.hi - scale.lo || 1, inc = scale.inc || 1;
    const at = (v) => (v - scale.lo) / span; // a and b: from 0 on an axis lo..hi (lo < 0 is rare)
    row("bar-a", "a", r.a, at(0), at(r.a));
    row("bar-b", "b", r.b, at(0), at(r.b));
    row(r.increment >= 0 ? "bar-inc" : "bar-inc neg", "Δ", r.increment, 0.5, 0.5 + r.increment / inc / 2);
    return box;
  }

  function markSelected() {
    const name = state.ref && state.ref.name;
    document.querySelectorAll(".tile").forEach((t) => t.classList.toggle("selected", t.dataset.name === name));
  }

  // One tile per grid is in the tab order (the selected one, else the first); the arrow keys move
  // within the grid, so that Tab goes past a grid of many images in one step.
  function rove(grid) {
    const tiles = Array.from(grid.querySelectorAll(".tile"));
    if (!tiles.length) return;
    const keep = tiles.find((t) => t.dataset.roved && t.tabIndex === 0) ||
      tiles.find((t) => t.classList.contains("selected")) || tiles[0];
    tiles.forEach((t) => {
      t.tabIndex = t === keep ? 0 : -1;
      t.dataset.roved = "1";
    });
  }

  // Arrow keys move the focus through a grid's tiles (rows as laid out), Home/End to the ends.
  function gridKeys(e) {
    const keys = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End"];
    if (!keys.includes(e.key) || !e.target.classList.contains("tile")) return;
    const tiles = Array.from(e.currentTarget.querySelectorAll(".tile"));
    const i = tiles.indexOf(e.target);
    const top = tiles[0].getBoundingClientRect().top;
    let cols = tiles.findIndex((t) => t.getBoundingClientRect().top > top + 2);
    if (cols < 0) cols = tiles.length;
    const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -cols, ArrowDown: cols }[e.key];
    let j = e.key === "Home" ? 0 : e.key === "End" ? tiles.length - 1 : i + step;
    j = Math.max(0, Math.min(tiles.length - 1, j));
    e.preventDefault();
    tiles[i].tabIndex = -1;
    tiles[j].tabIndex = 0;
    tiles[j].focus();
    tiles[j].scrollIntoView({ block: "nearest" });
  }

  // --- the reference -------------------------------------------------------------------------

  function showReference() {
    const fig = $("#reference"), img = $("#ref-img"), cap = $("#ref-caption");
    fig.classList.toggle("empty", !state.ref);
    fig.classList.remove("broken");
    img.onerror = () => fig.classList.add("broken"); // an upload the browser cannot show
    if (!state.ref) return;
    if (state.ref.name !== undefined) {
      img.removeAttribute("src");
      setImage(img, state.ref.name, true);
      cap.innerHTML = "Gallery image <strong></strong>";
      cap.querySelector("strong").textContent = state.ref.name;
    } else {
      const u = state.ref.upload;
      img.src = u.url;
      img.alt = "Uploaded image " + u.file.name;
      cap.innerHTML = "Uploaded <strong></strong> <span class=\"muted\"></span>";
      cap.querySelector("strong").textContent = u.file.name;
      cap.querySelector(".muted").textContent = "(" + sizeText(u.file.size) + ")";
    }
    markSelected();
  }

  function chooseName(name, focusChange) {
    state.ref = { name };
    showReference();
    if (focusChange && !$("#change").disabled) {
      $("#change").focus();
      $("#change").scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }

  // The request searching from the reference with these fields: JSON with {"reference": {"name"}}
  // for a gallery image; for an upload multipart/form-data, the file as "image" (no base64).
  function searchInit(fields, signal) {
    const init = { method: "POST", signal, headers: { Accept: "application/x-ndjson, application/json" } };
    if (state.ref.name !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(Object.assign({ reference: { name: state.ref.name } }, fields));
    } else {
      const form = new FormData();
      form.append("image", state.ref.upload.file, state.ref.upload.file.name);
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) form.append(k, String(v));
      init.body = form;
    }
    return init;
  }

  function chooseFile(file) {
    const status = $("#upload-status");
    clearError();
    if (!file) return;
    const ok = /^image\/(jpeg|png)$/.test(file.type) || /\.(jpe?g|png)$/i.test(file.name);
    if (!ok) {
      status.textContent = "";
      showError("“" + file.name + "” is not a JPEG or PNG image.");
      return;
    }
    const limit = state.info && state.info.limits && state.info.limits.max_upload_bytes;
    if (limit && file.size + 16384 > limit) {
      showError("“" + file.name + "” is too large (" + sizeText(file.size) + "): the server takes uploads up to " +
        sizeText(limit) + ".");
      return;
    }
    if (state.ref && state.ref.upload) URL.revokeObjectURL(state.ref.upload.url);
    state.ref = { upload: { file, url: URL.createObjectURL(file) } };
    status.textContent = "Using " + file.name + " as the reference.";
    showReference();
  }

  // --- the gallery browser -------------------------------------------------------------------

  async function loadGallery(reset) {
    const g = state.gallery;
    if (reset) {
      g.gen++;
      g.offset = 0;
      g.total = 0;
      $("#gallery").replaceChildren();
    } else if (g.loading || (g.offset >= g.total && g.offset > 0)) {
      return;
    }
    const gen = g.gen;
    g.loading = true;
    $("#gallery-more").hidden = true;
    try {
      const q = new URLSearchParams({ q: g.q, offset: g.offset, limit: PAGE });
      const page = await apiJSON("/v1/gallery?" + q);
      if (gen !== g.gen) return;
      g.total = page.total;
      g.offset += page.items.length;
      const frag = document.createDocumentFragment();
      page.items.forEach((it) => frag.appendChild(makeTile(it, { focusChange: true })));
      $("#gallery").appendChild(frag);
      rove($("#gallery"));
      $("#gallery-count").textContent = g.q
        ? plural(g.total, "image") + " matching “" + g.q + "”"
        : plural(g.total, "image") + " in the gallery";
      $("#gallery-more").hidden = g.offset >= g.total || page.items.length === 0;
    } catch (e) {
      if (gen === g.gen) $("#gallery-count").textContent = "Cannot list the gallery: " + e.message;
    } finally {
      if (gen === g.gen) g.loading = false;
    }
  }

  function initGallery() {
    let timer = 0;
    $("#gallery-filter").addEventListener("input", (e) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        state.gallery.q = e.target.value.trim();
        loadGallery(true);
      }, 200);
    });
    $("#gallery-more").addEventListener("click", () => loadGallery(false));
    // scrolling near the end of the list loads the next page
    const more = new IntersectionObserver((entries) => {
      if (entries.some((x) => x.isIntersecting)) loadGallery(false);
    }, { root: $("#gallery").parentElement, rootMargin: "200px" });
    more.observe($("#gallery-more"));
  }

  // --- tabs ----------------------------------------------------------------------------------

  function selectTab(tab, focus) {
    document.querySelectorAll('[role="tab"]').forEach((t) => {
      const on = t === tab;
      t.setAttribute("aria-selected", on);
      t.tabIndex = on ? 0 : -1;
      $("#" + t.getAttribute("aria-controls")).hidden = !on;
    });
    if (focus) tab.focus();
  }

  function initTabs() {
    const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
    tabs.forEach((t, i) => {
      t.addEventListener("click", () => selectTab(t, false));
      t.addEventListener("keydown", (e) => {
        const j = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: tabs.length - 1 }[e.key];
        if (j === undefined) return;
        e.preventDefault();
        selectTab(tabs[(j + tabs.length) % tabs.length], true);
      });
    });
  }

  // --- text search (to find a reference) -----------------------------------------------------

  async function textSearch(e) {
    e.preventDefault();
    const text = $("#text-query").value.trim();
    const status = $("#text-status");
    if (!text) {
      status.textContent = "Type what the image shows.";
      $("#text-query").focus();
      return;
    }
    status.textContent = "Searching…";
    try {
      const r = await apiJSON("/v1/search/text", { text, k: 60 });
      const frag = document.createDocumentFragment();
      r.results.forEach((it) => frag.appendChild(makeTile(it, { focusChange: true })));
      $("#text-results").replaceChildren(frag);
      rove($("#text-results"));
      status.textContent = plural(r.results.length, "image") + " (" + fmt(r.took_ms, 1) + " ms): pick one as the reference.";
    } catch (err) {
      status.textContent = err.message;
    }
  }

  // --- progress ------------------------------------------------------------------------------

  const progress = {
    t0: 0,
    timer: 0,
    start() {
      const ol = $("#stages");
      ol.replaceChildren();
      $("#progress").hidden = false;
      $("#progress").classList.remove("finished");
      this.t0 = performance.now();
      clearInterval(this.timer);
      this.timer = setInterval(() => this.tick(), 100);
      this.tick();
    },
    tick() {
      let el = $("#elapsed");
      if (!el) {
        el = document.createElement("p");
        el.id = "elapsed";
        el.className = "muted small elapsed";
        $("#progress").prepend(el);
      }
      el.textContent = "Working… " + ((performance.now() - this.t0) / 1000).toFixed(1) + " s";
    },
    item(stage) {
      let li = document.querySelector('#stages li[data-stage="' + CSS.escape(stage) + '"]');
      if (!li) {
        li = document.createElement("li");
        li.dataset.stage = stage;
        li.innerHTML = '<span class="stage-name"></span><progress max="1" value="0"></progress><span class="stage-count"></span>';
        li.querySelector(".stage-name").textContent = STAGES[stage] || stage;
        li.querySelector("progress").setAttribute("aria-label", STAGES[stage] || stage);
        $("#stages").appendChild(li);
      }
      return li;
    },
    update(msg) {
      const li = this.item(msg.stage);
      document.querySelectorAll("#stages li").forEach((x) => {
        if (x !== li && x.classList.contains("active")) x.classList.replace("active", "done");
      });
      li.classList.add("active");
      const p = li.querySelector("progress");
      if (msg.total > 0) {
        p.max = msg.total;
        p.value = msg.done;
        li.querySelector(".stage-count").textContent = msg.done + " / " + msg.total;
      } else {
        p.removeAttribute("value");
      }
    },
    finish(ok, text) {
      clearInterval(this.timer);
      document.querySelectorAll("#stages li.active").forEach((x) => {
        x.classList.replace("active", ok ? "done" : "failed");
        if (ok) {
          const p = x.querySelector("progress");
          p.value = p.max;
          if (x.querySelector(".stage-count").textContent) x.querySelector(".stage-count").textContent = p.max + " / " + p.max;
        }
      });
      $("#progress").classList.add("finished");
      $("#elapsed").textContent = text;
    },
  };

  // --- searching -----------------------------------------------------------------------------

  function numberOpt(sel) {
    const v = $(sel).value.trim();
    return v === "" ? undefined : Number(v);
  }

  function searchFields(text) {
    const b = { text, method: $("#opt-method").value, stream: true };
    const opts = { pos: "#opt-pos", neg: "#opt-neg", k: "#opt-k", num_captions: "#opt-captions" };
    for (const [k, sel] of Object.entries(opts)) {
      const v = numberOpt(sel);
      if (v !== undefined && isFinite(v)) b[k] = v;
    }
    return b;
  }

  // Reads an NDJSON reply: progress lines, then {"result"} or {"error"}.
  async function readStream(res) {
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (value) buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line);
        if (msg.result) return msg.result;
        if (msg.error) throw new ApiError(msg.error.message || "The search failed", msg.error.status);
        if (msg.stage) progress.update(msg);
      }
      if (done) break;
    }
    throw new ApiError("The server closed the connection before the search finished.", 0);
  }

  function beginSearch() {
    if (state.search) state.search.abort();
    state.search = new AbortController();
    clearError();
    setState("searching");
    return state.search.signal;
  }

  function failSearch(e, signal) {
    if (e.name === "AbortError" || signal.aborted) return;
    setState("error");
    clearInterval(progress.timer);
    if ($("#stages").children.length) progress.finish(false, "Stopped after " + ((performance.now() - progress.t0) / 1000).toFixed(1) + " s");
    else $("#progress").hidden = true;
    showError(e.message);
  }

  function needReference() {
    if (state.ref) return false;
    showError("Choose a reference image first: pick one from the gallery, describe it, or upload a photo.");
    $("#tab-gallery").focus();
    return true;
  }

  async function composedSearch(e) {
    e.preventDefault();
    if (state.info && !state.info.composed) return;
    const text = $("#change").value.trim();
    if (needReference()) return;
    if (!text) {
      showError("Type the change you want, e.g. “same dog, but on a beach at night”.");
      $("#change").focus();
      return;
    }
    const signal = beginSearch();
    progress.start();
    $("#search-btn").setAttribute("aria-busy", "true");
    try {
      const res = await api("/v1/search", searchInit(searchFields(text), signal));
      if (!res.ok) throw await errorOf(res);
      const ctype = res.headers.get("Content-Type") || "";
      const result = ctype.includes("ndjson") ? await readStream(res) : await res.json();
      const t = result.timing && result.timing.total_ms;
      progress.finish(true, "Done in " + (t !== undefined ? (t / 1000).toFixed(2) : "?") + " s" +
        (result.cached ? " — captions and edits from the cache, no LLM request" : ""));
      renderResults(result.results, result);
      renderWhy(result);
      setState("done");
    } catch (err) {
      failSearch(err, signal);
    } finally {
      $("#search-btn").removeAttribute("aria-busy");
    }
  }

  async function similarSearch() {
    if (needReference()) return;
    const signal = beginSearch();
    $("#progress").hidden = true;
    try {
      const k = numberOpt("#opt-k");
      const res = await api("/v1/search/image", searchInit({ k: isFinite(k) ? k : undefined }, signal));
      if (!res.ok) throw await errorOf(res);
      const r = await res.json();
      renderResults(r.results, { took: r.took_ms });
      $("#why-panel").hidden = true;
      setState("done");
    } catch (err) {
      failSearch(err, signal);
    }
  }

  function renderResults(results, meta) {
    const scale = abScale(results);
    const frag = document.createDocumentFragment();
    results.forEach((r) => frag.appendChild(makeTile(r, { scale, focusChange: true })));
    $("#results").replaceChildren(frag);
    rove($("#results"));
    $("#results-panel").hidden = false;
    const bits = [plural(results.length, "result")];
    if (meta.method) bits.push(meta.method + (meta.method === "seize" ? " (pos " + meta.pos + ", neg " + meta.neg + ")" : ""));
    else bits.push("similar to the reference");
    if (meta.took !== undefined) bits.push(fmt(meta.took, 1) + " ms");
    $("#results-meta").textContent = bits.join(" · ");
    if (!results.length) {
      const li = document.createElement("li");
      li.className = "empty-note";
      li.textContent = "No results.";
      $("#results").appendChild(li);
    }
  }

  function renderWhy(r) {
    const tbody = $("#edits-table tbody");
    tbody.replaceChildren();
    let failed = 0;
    r.captions.forEach((c, i) => {
      const tr = document.createElement("tr");
      const e = r.edits ? r.edits[i] : null;
      tr.innerHTML = '<td class="num"></td><td class="caption"></td><td class="edit"></td>';
      tr.querySelector(".num").textContent = i + 1;
      tr.querySelector(".caption").textContent = c;
      const td = tr.querySelector(".edit");
      if (e === null || e === undefined) {
        failed++;
        tr.classList.add("edit-failed");
        td.innerHTML = '<span class="badge failed">edit failed</span> <span class="muted">left out of the query</span>';
      } else {
        td.textContent = e;
      }
      tbody.appendChild(tr);
    });
    const t = r.timing || {};
    const bits = [plural(r.captions.length, "caption"), plural(r.captions.length - failed, "edit")];
    if (failed) bits.push(failed + " failed");
    if (r.cached) bits.push("cached");
    if (t.caption_ms !== undefined) bits.push("caption " + fmt(t.caption_ms / 1000, 2) + " s, edit " + fmt(t.edit_ms / 1000, 2) + " s, encode " + fmt(t.encode_ms, 0) + " ms, search " + fmt(t.search_ms, 1) + " ms");
    $("#why-meta").textContent = bits.join(" · ");
    $("#chart").replaceChildren(chart(r.results.slice(0, 10)));
    $("#why-panel").hidden = false;
  }

  // The axis of a and b (lo..hi, including 0) and the largest |increment| over the results.
  function abScale(results) {
    const s = { lo: 0, hi: 0, inc: 0 };
    results.forEach((r) => {
      if (r.a === undefined) return;
      s.lo = Math.min(s.lo, r.a, r.b);
      s.hi = Math.max(s.hi, r.a, r.b);
      s.inc = Math.max(s.inc, Math.abs(r.increment));
    });
    if (s.hi - s.lo < 1e-9) s.hi = s.lo + 1;
    if (s.inc < 1e-9) s.inc = 1;
    return s;
  }

  // Inline SVG: per result, a and b from 0, and the increment around its zero line.
  function chart(rows) {
    const NS = "http://www.w3.org/2000/svg";
    const W = 640, ROW = 30, HEAD = 22, LABEL = 150, AB0 = 160, AB1 = 420, INC0 = 440, INC1 = 630;
    const H = HEAD + rows.length * ROW + 4;
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "a, b and increment of the top " + rows.length + " results");
    const el = (tag, attrs, text) => {
      const n = document.createElementNS(NS, tag);
      for (const k in attrs) n.setAttribute(k, attrs[k]);
      if (text !== undefined) n.textContent = text;
      svg.appendChild(n);
      return n;
    };
    const sc = abScale(rows), inc = sc.inc;
    const X = (v) => AB0 + ((v - sc.lo) / (sc.hi - sc.lo)) * (AB1 - AB0);
    const mid = (INC0 + INC1) / 2;
    el("text", { x: AB0, y: 14, class: "axis" }, "similarity a, b (" + fmt(sc.lo, 2) + " – " + fmt(sc.hi, 2) + ")");
    el("text", { x: INC0, y: 14, class: "axis" }, "increment (±" + fmt(inc, 2) + ")");
    el("line", { x1: mid, x2: mid, y1: HEAD - 4, y2: H, class: "zero" });
    if (sc.lo < 0) el("line", { x1: X(0), x2: X(0), y1: HEAD - 4, y2: H, class: "zero" });
    rows.forEach((r, i) => {
      const y = HEAD + i * ROW;
      const name = r.name.length > 20 ? "…" + r.name.slice(-19) : r.name;
      el("text", { x: 0, y: y + 18, class: "label" }, "#" + r.rank + " " + name);
      [["a", 3], ["b", 15]].forEach(([k, dy]) => {
        const x0 = Math.min(X(0), X(r[k])), w = Math.abs(X(r[k]) - X(0));
        el("rect", { x: x0.toFixed(1), y: y + dy, width: w.toFixed(1), height: 10, rx: 2, class: "bar-" + k });
      });
      const wi = (Math.abs(r.increment) / inc) * (INC1 - mid);
      const x = r.increment >= 0 ? mid : mid - wi;
      const bar = el("rect", { x: x.toFixed(1), y: y + 7, width: wi.toFixed(1), height: 14, rx: 2, class: r.increment >= 0 ? "bar-inc" : "bar-inc neg" });
      const tip = document.createElementNS(NS, "title");
      tip.textContent = "#" + r.rank + " " + r.name + ": a " + fmt(r.a) + ", b " + fmt(r.b) + ", increment " + fmt(r.increment) + ", score " + fmt(r.score);
      bar.appendChild(tip);
    });
    return svg;
  }

  // --- start ---------------------------------------------------------------------------------

  function applyInfo(info) {
    state.info = info;
    const d = info.defaults || {};
    $("#opt-method").value = d.method || "seize";
    $("#opt-k").value = d.k !== undefined ? d.k : 50;
    $("#opt-captions").value = d.num_captions !== undefined ? d.num_captions : 15;
    $("#opt-pos").value = d.pos !== undefined ? d.pos : 0.13;
    $("#opt-neg").value = d.neg !== undefined ? d.neg : 2.1;
    if (info.limits && info.limits.max_k) $("#opt-k").max = info.limits.max_k;
    const model = (info.model && info.model.path ? info.model.path.split("/").filter(Boolean).pop() : "model");
    const bits = [model, plural((info.index && info.index.count) || 0, "image")];
    if (info.llm && info.llm.model) bits.push("LLM " + info.llm.model);
    $("#server-info").textContent = bits.join(" · ");
    if (!info.composed) {
      $("#change").disabled = true;
      $("#search-btn").disabled = true;
      const note = $("#composed-note");
      note.hidden = false;
      note.innerHTML = "Composed search is off: this server has no captioner or LLM (start <code>seize serve</code> with " +
        "<code>--captioner-endpoint</code> and <code>--llm-endpoint</code>). Finding a reference by description and " +
        "<strong>Similar</strong> still work.";
    }
    if (!info.gallery) {
      $("#gallery-count").textContent = "This server was started without --gallery: images are listed by name only.";
    }
  }

  function initDrop() {
    const drop = $("#drop");
    ["dragenter", "dragover"].forEach((t) =>
      document.addEventListener(t, (e) => {
        if (!e.dataTransfer || !Array.from(e.dataTransfer.types).includes("Files")) return;
        e.preventDefault();
        document.body.classList.add("dragging");
      })
    );
    ["dragleave", "dragend"].forEach((t) => document.addEventListener(t, (e) => {
      if (e.relatedTarget === null) document.body.classList.remove("dragging");
    }));
    document.addEventListener("drop", (e) => {
      document.body.classList.remove("dragging");
      if (!e.dataTransfer || !e.dataTransfer.files.length) return;
      e.preventDefault();
      selectTab($("#tab-upload"), false);
      chooseFile(e.dataTransfer.files[0]);
    });
    drop.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        $("#file-input").click();
      }
    });
    $("#file-input").addEventListener("change", (e) => chooseFile(e.target.files[0]));
    document.addEventListener("paste", (e) => {
      const f = Array.from((e.clipboardData && e.clipboardData.files) || []).find((x) => /^image\//.test(x.type));
      if (f) chooseFile(f);
    });
  }

  async function init() {
    setState("loading");
    initTabs();
    initGallery();
    initDrop();
    $("#search-form").addEventListener("submit", composedSearch);
    $("#similar-btn").addEventListener("click", similarSearch);
    $("#text-form").addEventListener("submit", textSearch);
    ["#gallery", "#text-results", "#results"].forEach((s) => $(s).addEventListener("keydown", gridKeys));
    document.addEventListener("keydown", (e) => {
      const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName);
      if (e.key === "/" && !typing && !$("#change").disabled) {
        e.preventDefault();
        $("#change").focus();
      }
    });
    try {
      applyInfo(await apiJSON("/v1/info"));
    } catch (e) {
      $("#server-info").textContent = "not connected";
      showError("Cannot load the server's settings: " + e.message);
      setState("error");
      return;
    }
    await loadGallery(true);
    setState("ready");
  }

  init();
})();
