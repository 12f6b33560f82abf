#!/usr/bin/env node
// The web page of `seize serve` in headless Chromium (tests/cli/test_serve_browser.sh runs it).
//   node serve_page.js composed URL OUT_DIR GALLERY_NAMES_FILE UPLOAD_FILE
//       a server with a captioner and an LLM: browse and filter the gallery, choose a reference,
//       type a change and press Enter, the streamed progress, the ranked grid (ranks, scores, bars),
//       the why panel (captions, edits, a failed edit, chart), arrow keys and Enter in the grid, an upload by file
//       input searched, a server error shown in words, the phone-sized layout; screenshots in OUT_DIR
//   node serve_page.js plain URL OUT_DIR GALLERY_NAMES_FILE TOKEN
//       a server with --token and no LLM: the token dialog (a wrong token, then the right one),
//       thumbnails through the token, composed search disabled with its note, "Similar" search
//   node serve_page.js shot URL OUT_FILE REFERENCE CHANGE [K]
//       the README screenshot (no assertions beyond the search finishing)
// Every console error, page exception and failed request fails the test unless a step expects it.
// CHROMIUM names the browser (default chromium).
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { Browser } = require("./cdp.js");

const [mode, url, out, arg4, arg5] = process.argv.slice(2);
let failures = 0;
function check(cond, what) {
  if (!cond) {
    failures++;
    console.error("  FAIL: " + what);
  }
}
function eq(got, want, what) {
  check(JSON.stringify(got) === JSON.stringify(want), what + ": got " + JSON.stringify(got) + ", expected " + JSON.stringify(want));
}

// The page's state after a search started by `start` (a click or a key): "done" or "error".
async function searchWith(page, start) {
  await page.eval(() => { document.body.dataset.state = "test"; });
  await start();
  const st = await page.waitForPage('["done","error"].includes(document.body.dataset.state) && document.body.dataset.state', "the search to finish", 120000);
  if (st === "error") console.error("  the page shows the error: " + (await page.eval('document.querySelector("#error").textContent')));
  return st;
}

// Every image of sel whose centre is on screen has loaded (thumbnails load lazily), and there is one.
const imagesLoaded = (sel) => `(() => {
  const shown = Array.from(document.querySelectorAll(${JSON.stringify(sel)})).filter((i) => {
    const r = i.getBoundingClientRect();
    return document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === i;
  });
  return shown.length > 0 && shown.every((i) => i.complete && i.naturalWidth > 0);
})()`;

async function gallerySteps(page, names) {
  const want = Math.min(names.length, 60);
  await page.waitForPage(`document.body.dataset.state === "ready" && document.querySelectorAll("#gallery .tile").length === ${want}`, want + " gallery tiles");
  await page.waitForPage(imagesLoaded("#gallery img"), "the gallery thumbnails");
  eq(await page.eval('Array.from(document.querySelectorAll("#gallery .tile")).map((t) => t.dataset.name)'), names.slice(0, want), "gallery order");
  if (names.length > want) {
    // scrolling the gallery to its end loads the next page
    await page.eval('document.querySelector("#pane-gallery").scrollTop = 1e6');
    await page.waitForPage(`document.querySelectorAll("#gallery .tile").length === ${names.length}`, "the gallery's next page on scrolling");
    await page.waitForPage(imagesLoaded("#gallery img"), "the next page's thumbnails");
    eq(await page.eval('Array.from(document.querySelectorAll("#gallery .tile")).map((t) => t.dataset.name)'), names, "gallery order after paging");
    check(await page.eval('document.querySelector("#gallery-more").hidden'), "no 'Load more' at the end");
  }
  check(/image/.test(await page.eval('document.querySelector("#gallery-count").textContent')), "gallery count shown");
  // every form control has a label
  const unlabelled = await page.eval(`Array.from(document.querySelectorAll("input, select, button")).filter((e) =>
      !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.textContent.trim()).map((e) => e.id || e.outerHTML)`);
  eq(unlabelled, [], "controls without a label");
  // filter by name: a part of one name, matched case-insensitively
  const target = names[names.length - 1];
  const part = path.basename(target).replace(/\.[a-z]+$/i, "").toUpperCase();
  const match = names.filter((n) => n.toLowerCase().includes(part.toLowerCase()));
  await page.click("#gallery-filter");
  await page.type(part);
  await page.waitForPage(`Array.from(document.querySelectorAll("#gallery .tile")).map((t) => t.dataset.name).join("\\n") === ${JSON.stringify(match.join("\n"))}`, "the filtered gallery (" + part + ")");
  return target;
}

async function composedSteps(page, names) {
  const ref = await gallerySteps(page, names);
  await page.click(`#gallery .tile[data-name="${ref}"]`);
  check((await page.eval('document.querySelector("#ref-caption").textContent')).includes(ref), "the chosen reference is shown");
  check(await page.eval('document.activeElement.id === "change"'), "choosing a reference moves the focus to the change");
  // type the change and press Enter
  const change = "the same scene at night";
  await page.type(change);
  eq(await searchWith(page, () => page.key("Enter", "Enter", 13, "\r")), "done", "composed search by Enter");
  const n = Math.min(50, names.length - 1);
  await resultSteps(page, n, ref, change);
  await page.waitForPage(imagesLoaded("#results img"), "the result thumbnails");
  await page.screenshot(path.join(out, "serve-desktop.png"), true);
  // arrow keys move through the grid, Enter makes the focused result the reference
  const tiles = await page.eval('Array.from(document.querySelectorAll("#results .tile")).map((t) => t.dataset.name)');
  await page.eval('document.querySelector("#results .tile").focus()');
  await page.key("ArrowRight", "ArrowRight", 39);
  eq(await page.eval("document.activeElement.dataset.name"), tiles[1], "ArrowRight in the grid");
  await page.key("End", "End", 35);
  eq(await page.eval("document.activeElement.dataset.name"), tiles[tiles.length - 1], "End in the grid");
  await page.key("Home", "Home", 36);
  await page.key("ArrowRight", "ArrowRight", 39);
  await page.key("Enter", "Enter", 13, "\r");
  check((await page.eval('document.querySelector("#ref-caption").textContent')).includes(tiles[1]), "Enter on a result makes it the reference");
  // the same query again comes from the cache: no LLM stage shown
  const firstCaptions = await page.eval('Array.from(document.querySelectorAll("#edits-table td.caption")).map((td) => td.textContent)');
  await uploadSteps(page, firstCaptions, names.length);
  await errorSteps(page);
  await phoneSteps(page);
}

async function resultSteps(page, n, ref, change) {
  const r = await page.eval(() => ({
    ranks: Array.from(document.querySelectorAll("#results .rank")).map((e) => e.textContent),
    scores: Array.from(document.querySelectorAll("#results .score")).map((e) => Number(e.textContent)),
    names: Array.from(document.querySelectorAll("#results .tile")).map((e) => e.dataset.name),
    bars: Array.from(document.querySelectorAll("#results .tile")).map((t) => t.querySelectorAll(".bars .bar").length),
    captions: Array.from(document.querySelectorAll("#edits-table td.caption")).map((e) => e.textContent),
    edits: Array.from(document.querySelectorAll("#edits-table td.edit")).map((e) => e.textContent),
    failed: Array.from(document.querySelectorAll("#edits-table tbody tr")).flatMap((tr, i) => (tr.classList.contains("edit-failed") ? [i] : [])),
    tabbable: Array.from(document.querySelectorAll("#results .tile")).filter((t) => t.tabIndex === 0).length,
    chart: ["bar-a", "bar-b", "bar-inc"].map((c) => document.querySelectorAll("#chart svg rect." + c).length),
    stages: Array.from(document.querySelectorAll("#stages li")).map((li) => li.dataset.stage + ":" + li.className),
    why: !document.querySelector("#why-panel").hidden,
    error: !document.querySelector("#error").hidden,
  }));
  eq(r.ranks, Array.from({ length: n }, (_, i) => "#" + (i + 1)), "result ranks");
  check(r.scores.every((s, i) => i === 0 || s <= r.scores[i - 1]), "scores descending: " + r.scores);
  check(!r.names.includes(ref), "the reference is not among its results");
  eq(r.bars, Array(n).fill(3), "a, b and increment bars per result");
  eq(r.tabbable, 1, "result tiles in the tab order (the others by arrow keys)");
  eq(r.captions.length, 15, "captions in the why panel");
  check(r.captions.every((c) => c.length > 0), "no empty caption");
  // the stand-in LLM refuses this reference's caption "... sample 7" (--reject-word): that edit failed
  eq(r.failed, [7], "the failed edit's row");
  check(/edit failed/.test(r.edits[7]), "a failed edit says so: " + r.edits[7]);
  check(r.edits.every((e, i) => i === 7 || e.startsWith(r.captions[i] + " => " + change)), "each edit is its caption's edit: " + r.edits[0]);
  eq(r.chart, Array(3).fill(Math.min(10, n)), "chart bars (a, b, increment) of the top results");
  check(r.why && !r.error, "why panel shown, no error");
  check(r.stages.includes("caption:done") && r.stages.includes("edit:done"), "progress showed the LLM stages: " + r.stages);
  return r;
}

async function uploadSteps(page, firstCaptions, nGallery) {
  await page.click("#tab-upload");
  check(await page.eval('!document.querySelector("#pane-upload").hidden'), "the upload tab shows its pane");
  await page.setFiles("#file-input", [path.resolve(arg5)]);
  const base = path.basename(arg5);
  await page.waitForPage(`document.querySelector("#ref-caption").textContent.includes(${JSON.stringify(base)})`, "the uploaded reference");
  await page.waitForPage(imagesLoaded("#ref-img"), "the uploaded preview");
  eq(await searchWith(page, () => page.click("#search-btn")), "done", "composed search of the upload");
  const r = await page.eval(() => ({
    n: document.querySelectorAll("#results .tile").length,
    captions: Array.from(document.querySelectorAll("#edits-table td.caption")).map((td) => td.textContent),
  }));
  eq(r.n, Math.min(50, nGallery), "results of the upload (nothing excluded)");
  eq(r.captions.length, 15, "captions of the upload");
  check(r.captions.join() !== firstCaptions.join(), "the upload got its own captions");
  // "Similar" of the upload: nothing excluded, no why panel
  eq(await searchWith(page, () => page.click("#similar-btn")), "done", "similar search of the upload");
  eq(await page.eval('[document.querySelectorAll("#results .tile").length, document.querySelector("#why-panel").hidden]'), [Math.min(50, nGallery), true], "similar results of the upload");
  // the same search again: captions and edits from the cache, and the page says so (the shell
  // script counts the stand-in servers' requests)
  eq(await searchWith(page, () => page.click("#search-btn")), "done", "the upload's search again");
  check(/cache/.test(await page.eval('document.querySelector("#elapsed").textContent')), "the repeated search says it came from the cache");
  // dropped on the page, a .png that is not an image: the server refuses it (415) and the page
  // says so in words
  const before = page.console.length;
  await page.dropFiles("#drop", [path.resolve(path.dirname(arg5), "not-an-image.png")]);
  await page.waitForPage('document.querySelector("#ref-caption").textContent.includes("not-an-image.png")', "the second upload");
  eq(await searchWith(page, () => page.click("#search-btn")), "error", "a search with a file that is not an image");
  const msg = await page.eval('document.querySelector("#error").textContent');
  check(/JPEG|PNG|image/i.test(msg), "the refusal in words: " + msg);
  const extra = page.console.splice(before);
  check(extra.every((m) => /status of 415/.test(m.text)), "only the expected 415: " + JSON.stringify(extra));
}

// A request the server refuses: its message is shown in words (and the 400 is the only error).
async function errorSteps(page) {
  const before = page.console.length;
  await page.eval(() => {
    document.querySelector(".options").open = true;
    document.querySelector("#opt-k").value = "0";
  });
  eq(await searchWith(page, () => page.click("#search-btn")), "error", "a search with k = 0");
  const msg = await page.eval('document.querySelector("#error").textContent');
  check(/\bk\b/.test(msg) && !/answered/.test(msg), "the error names the field in words: " + msg);
  const extra = page.console.splice(before);
  check(extra.every((m) => /status of 400/.test(m.text)), "only the expected 400: " + JSON.stringify(extra));
  await page.eval('document.querySelector("#opt-k").value = "50"');
}

async function phoneSteps(page) {
  await page.viewport(390, 844, { mobile: true, scale: 2, dark: true });
  await page.eval("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))");
  const m = await page.eval(() => {
    const tiles = Array.from(document.querySelectorAll("#results .tile"));
    const top = tiles[0].getBoundingClientRect().top;
    return {
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      cols: tiles.filter((t) => Math.abs(t.getBoundingClientRect().top - top) < 2).length,
      dark: getComputedStyle(document.body).backgroundColor,
    };
  });
  check(m.overflow <= 0, "no horizontal scrolling on a phone (overflow " + m.overflow + " px)");
  eq(m.cols, 2, "result columns on a phone");
  check(m.dark !== "rgb(246, 247, 249)", "dark colours under prefers-color-scheme: dark");
  await page.eval('document.querySelector("#results-panel").scrollIntoView()');
  await page.waitForPage(imagesLoaded("#results img"), "the result thumbnails on a phone");
  await page.screenshot(path.join(out, "serve-phone.png"), false);
}

async function plainSteps(page, names, token) {
  // the token dialog: a wrong token is refused, the right one lets the page load
  await page.waitForPage('document.querySelector("#token-dialog").open', "the token dialog");
  await page.click("#token-input");
  await page.type("wrong-" + token);
  await page.key("Enter", "Enter", 13, "\r");
  await page.waitForPage('document.querySelector("#token-dialog").open && !document.querySelector("#token-error").hidden', "the dialog saying the token was refused");
  await page.type(token);
  await page.key("Enter", "Enter", 13, "\r");
  page.console = page.console.filter((m) => !/status of 401/.test(m.text));
  await page.waitForPage(`document.body.dataset.state === "ready"`, "the page after the token");
  eq(await page.eval(`sessionStorage.getItem("seize.token")`), token, "the token kept in sessionStorage");
  await gallerySteps(page, names);
  check(await page.eval('document.querySelector("#gallery img").src.startsWith("blob:")'), "thumbnails fetched with the token");
  // no LLM: composed search off, explained; "Similar" works
  check(await page.eval('document.querySelector("#change").disabled && document.querySelector("#search-btn").disabled'), "composed search disabled");
  check(/captioner|LLM/.test(await page.eval('document.querySelector("#composed-note").hidden ? "" : document.querySelector("#composed-note").textContent')), "the note says why");
  await page.eval('document.querySelector("#gallery-filter").value = ""; document.querySelector("#gallery-filter").dispatchEvent(new Event("input"))');
  await page.waitForPage(`document.querySelectorAll("#gallery .tile").length === ${Math.min(names.length, 60)}`, "the unfiltered gallery");
  // Tab enters the gallery grid once and leaves it with the next Tab (arrow keys move inside)
  await page.eval('document.querySelector("#gallery-filter").focus()');
  await page.key("Tab", "Tab", 9);
  check(await page.eval('document.activeElement.matches("#gallery .tile")'), "Tab from the filter reaches the gallery");
  await page.key("Tab", "Tab", 9);
  check(await page.eval('!document.activeElement.closest("#gallery")'), "the next Tab leaves the gallery: " + (await page.eval("document.activeElement.outerHTML.slice(0, 80)")));
  await textSearchSteps(page, names);
  await page.click(`#gallery .tile[data-name="${names[0]}"]`);
  eq(await searchWith(page, () => page.click("#similar-btn")), "done", "similar-image search");
  const r = await page.eval(() => ({
    n: document.querySelectorAll("#results .tile").length,
    bars: document.querySelectorAll("#results .bars").length,
    why: document.querySelector("#why-panel").hidden,
    names: Array.from(document.querySelectorAll("#results .tile")).map((t) => t.dataset.name),
  }));
  eq(r.n, Math.min(50, names.length - 1), "similar results");
  check(!r.names.includes(names[0]), "the reference is not among the similar results");
  check(r.bars === 0 && r.why, "no why panel for a similar search");
  await page.waitForPage(imagesLoaded("#results img"), "the similar results' thumbnails");
  await page.screenshot(path.join(out, "serve-plain.png"), true);
}

// The Describe tab: a plain text search whose results can be picked as the reference.
async function textSearchSteps(page, names) {
  await page.click("#tab-describe");
  await page.click("#text-query");
  await page.type("a photo of a cat");
  await page.key("Enter", "Enter", 13, "\r");
  const n = Math.min(60, names.length);
  await page.waitForPage(`document.querySelectorAll("#text-results .tile").length === ${n}`, n + " text search results");
  check(/pick one/.test(await page.eval('document.querySelector("#text-status").textContent')), "the text search's status");
  const first = await page.eval('document.querySelector("#text-results .tile").dataset.name');
  await page.click("#text-results .tile");
  check((await page.eval('document.querySelector("#ref-caption").textContent')).includes(first), "a text search result picked as the reference");
  await page.click("#tab-gallery");
}

async function shot(page, file, ref, change, k) {
  await page.waitForPage('document.body.dataset.state === "ready"', "the page");
  if (k) await page.eval((v) => { document.querySelector("#opt-k").value = v; }, k);
  await page.click(`#gallery .tile[data-name="${ref}"]`);
  await page.type(change);
  eq(await searchWith(page, () => page.key("Enter", "Enter", 13, "\r")), "done", "the search");
  await page.waitForPage(imagesLoaded("img"), "the images");
  await page.eval('window.scrollTo(0, 0); document.activeElement.blur()');
  await page.screenshot(file, true);
}

async function main() {
  if (mode !== "shot") fs.mkdirSync(out, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "seize-chromium-"));
  const browser = await Browser.launch({ executable: process.env.CHROMIUM || "chromium", userDataDir: profile });
  try {
    const page = await browser.newPage();
    if (mode === "shot") await page.init(1360, 1000, { scale: 1 });
    else await page.init(1280, 900);
    await page.goto(url);
    if (mode === "composed") await composedSteps(page, fs.readFileSync(arg4, "utf8").split("\n").filter(Boolean));
    else if (mode === "plain") await plainSteps(page, fs.readFileSync(arg4, "utf8").split("\n").filter(Boolean), arg5);
    else if (mode === "shot") await shot(page, out, arg4, arg5, process.argv[7]);
    else throw new Error("unknown mode " + mode);
    const bad = page.console.filter((m) => ["error", "assert", "exception"].includes(m.level));
    for (const m of bad) console.error("  console " + m.level + ": " + m.text);
    check(bad.length === 0, "console errors: " + bad.length);
  } catch (e) {
    failures++;
    console.error("  FAIL: " + (e.stack || e.message));
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.error("  browser " + mode + ": " + (failures ? failures + " failure(s)" : "ok"));
  process.exit(failures ? 1 : 0);
}
main();
