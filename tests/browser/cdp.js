// A small Chrome DevTools Protocol client for browser tests: starts Debian's headless Chromium
// with --remote-debugging-pipe (CDP as NUL-terminated JSON on file descriptors 3 and 4), so Node
// alone drives it: no npm package, no download, no port. Also the page helpers the tests share.
"use strict";
const { spawn } = require("child_process");
const fs = require("fs");

class Browser {
  // Starts Chromium; the page is attached with flat sessions (commands carry a sessionId).
  static async launch({ executable = "chromium", userDataDir, args = [] }) {
    const b = new Browser();
    const argv = [
      "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--disable-extensions", "--disable-quic", "--mute-audio", "--hide-scrollbars",
      "--disable-dev-shm-usage", // containers often have a small /dev/shm
      "--user-data-dir=" + userDataDir, ...args, "about:blank",
    ];
    b.proc = spawn(executable, argv, { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
    b.stderr = "";
    b.proc.stderr.on("data", (d) => { b.stderr = (b.stderr + d).slice(-20000); });
    b.exited = new Promise((resolve) => b.proc.on("exit", (code, sig) => resolve(code === null ? sig : code)));
    b.out = b.proc.stdio[3];
    b.nextId = 1;
    b.pending = new Map();
    b.listeners = [];
    let buf = Buffer.alloc(0);
    b.proc.stdio[4].on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      let z;
      while ((z = buf.indexOf(0)) >= 0) {
        const msg = JSON.parse(buf.subarray(0, z).toString("utf8"));
        buf = buf.subarray(z + 1);
        b.dispatch(msg);
      }
    });
    b.exited.then((code) => {
      for (const { reject } of b.pending.values()) reject(new Error("chromium exited (" + code + "): " + b.stderr.slice(-2000)));
      b.pending.clear();
    });
    await b.send("Browser.getVersion");
    return b;
  }

  dispatch(msg) {
    if (msg.id !== undefined) {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(p.method + ": " + msg.error.message));
      else p.resolve(msg.result);
      return;
    }
    for (const l of this.listeners) l(msg.method, msg.params || {}, msg.sessionId);
  }

  send(method, params = {}, sessionId) {
    const id = this.nextId++;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.out.write(JSON.stringify(msg) + "\0");
    });
  }

  on(fn) {
    this.listeners.push(fn);
  }

  async newPage() {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    return new Page(this, sessionId);
  }

  async close() {
    try {
      await Promise.race([this.send("Browser.close"), new Promise((r) => setTimeout(r, 5000))]);
    } catch (e) {
      /* already gone */
    }
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

class Page {
  constructor(browser, sessionId) {
    this.browser = browser;
    this.session = sessionId;
    this.console = []; // every console message, exception and log entry: {level, text}
    browser.on((method, p, sid) => {
      if (sid !== sessionId) return;
      if (method === "Runtime.consoleAPICalled") {
        const text = p.args.map((a) => (a.value !== undefined ? String(a.value) : a.description || a.type)).join(" ");
        this.console.push({ level: p.type, text });
      } else if (method === "Runtime.exceptionThrown") {
        const d = p.exceptionDetails;
        this.console.push({ level: "exception", text: (d.exception && d.exception.description) || d.text });
      } else if (method === "Log.entryAdded") {
        this.console.push({ level: p.entry.level, text: p.entry.source + ": " + p.entry.text + (p.entry.url ? " " + p.entry.url : "") });
      } else if (method === "Page.loadEventFired") {
        this.loaded = true;
      }
    });
  }

  send(method, params) {
    return this.browser.send(method, params, this.session);
  }

  async init(width, height, opts = {}) {
    await this.send("Runtime.enable");
    await this.send("Log.enable");
    await this.send("Page.enable");
    await this.viewport(width, height, opts);
  }

  viewport(width, height, { mobile = false, scale = 1, dark = false } = {}) {
    return Promise.all([
      this.send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: scale, mobile }),
      this.send("Emulation.setEmulatedMedia", { features: [{ name: "prefers-color-scheme", value: dark ? "dark" : "light" }] }),
    ]);
  }

  async goto(url) {
    this.loaded = false;
    const r = await this.send("Page.navigate", { url });
    if (r.errorText) throw new Error("cannot load " + url + ": " + r.errorText);
    await this.waitFor(() => this.loaded, "the load event of " + url);
  }

  // Evaluates an expression (a string, or a function and its JSON arguments) in the page.
  async eval(expr, ...args) {
    const src = typeof expr === "function" ? "(" + expr.toString() + ")(..." + JSON.stringify(args) + ")" : expr;
    const r = await this.send("Runtime.evaluate", { expression: src, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error("in the page: " + ((r.exceptionDetails.exception && r.exceptionDetails.exception.description) || r.exceptionDetails.text));
    return r.result.value;
  }

  // Polls until fn (Node side, may be async) returns a truthy value; fails after timeoutMs.
  async waitFor(fn, what, timeoutMs = 60000) {
    const t0 = Date.now();
    for (;;) {
      const v = await fn();
      if (v) return v;
      if (Date.now() - t0 > timeoutMs) throw new Error("timed out waiting for " + what);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  waitForPage(expr, what, timeoutMs) {
    return this.waitFor(() => this.eval(expr), what || expr, timeoutMs);
  }

  // A real mouse click at the centre of the element (scrolled into view first).
  async click(selector) {
    const box = await this.eval((sel) => {
      const el = document.querySelector(sel);
      if (!el) return null;
      el.scrollIntoView({ block: "center" });
      const r = el.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    }, selector);
    if (!box) throw new Error("no element " + selector + " to click");
    for (const type of ["mouseMoved", "mousePressed", "mouseReleased"]) {
      await this.send("Input.dispatchMouseEvent", { type, x: box.x, y: box.y, button: "left", clickCount: type === "mouseMoved" ? 0 : 1 });
    }
  }

  async key(key, code, keyCode, text) {
    const base = { key, code: code || key, windowsVirtualKeyCode: keyCode, nativeVirtualKeyCode: keyCode };
    await this.send("Input.dispatchKeyEvent", Object.assign({ type: text ? "keyDown" : "rawKeyDown", text }, base));
    await this.send("Input.dispatchKeyEvent", Object.assign({ type: "keyUp" }, base));
  }

  async type(text) {
    await this.send("Input.insertText", { text });
  }

  async setFiles(selector, files) {
    const { root } = await this.send("DOM.getDocument", { depth: 0 });
    const { nodeId } = await this.send("DOM.querySelector", { nodeId: root.nodeId, selector });
    if (!nodeId) throw new Error("no element " + selector);
    await this.send("DOM.setFileInputFiles", { nodeId, files });
  }

  // A PNG, or a JPEG (quality 85) when the file name ends in .jpg.
  // Drags files from outside the page and drops them on the element (the DevTools drag events).
  async dropFiles(selector, files) {
    const box = await this.eval((sel) => {
      const el = document.querySelector(sel);
      if (!el) return null;
      el.scrollIntoView({ block: "center" });
      const r = el.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    }, selector);
    if (!box) throw new Error("no element " + selector + " to drop on");
    const data = { items: [], files, dragOperationsMask: 1 };
    for (const type of ["dragEnter", "dragOver", "drop"]) {
      await this.send("Input.dispatchDragEvent", { type, x: box.x, y: box.y, data });
    }
  }

  async screenshot(file, fullPage) {
    const jpeg = /\.jpe?g$/i.test(file);
    const opts = { format: jpeg ? "jpeg" : "png", captureBeyondViewport: !!fullPage };
    if (jpeg) opts.quality = 85;
    if (fullPage) {
      const { cssContentSize } = await this.send("Page.getLayoutMetrics");
      opts.clip = { x: 0, y: 0, width: cssContentSize.width, height: cssContentSize.height, scale: 1 };
    }
    const { data } = await this.send("Page.captureScreenshot", opts);
    fs.writeFileSync(file, Buffer.from(data, "base64"));
  }
}

module.exports = { Browser, Page };
