#!/usr/bin/env bash
# The web page of `seize serve` in real headless Chromium, driven over the DevTools protocol by
# tests/browser/serve_page.js (Node, no npm package): a server on the fixture images with the
# tiny fixture model and the stand-in captioner and LLM (choose a gallery image, type a change,
# the streamed progress, the ranked grid and the why panel, an upload by file input, an error in
# words, the phone layout), then one with --token and no LLM (the token dialog, composed search
# disabled, similar-image search). No console error may occur. Screenshots are kept in
# $BUILD/test-output/serve_browser/ (printed). Skipped (77) only without chromium.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/servers/server.sh"
need_fixtures
FIX=$(cd "$FIX" && pwd) # absolute: tiny_model links to it
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser)}
[ -n "$CHROMIUM" ] || { echo "  skipped: chromium is not installed (scripts/install-deps.sh installs it)" >&2; exit 77; }
command -v node >/dev/null || fail "node is not installed (scripts/install-deps.sh installs nodejs)"
export CHROMIUM
OUT=${SEIZE_TEST_OUTPUT:-$(dirname "$SEIZE_BIN")/test-output}/serve_browser
rm -rf "$OUT" && mkdir -p "$OUT" || fail "cannot make $OUT"
MODEL="$TMP/model"
tiny_model "$MODEL"

# --- the gallery: the fixture images and 60 small generated ones in a subfolder (names with a
# '/', more than one page of the gallery browser); the upload: a generated PNG not in it
GAL="$TMP/photos"
mkdir -p "$GAL/more shots"
for f in $(cat "$FIX/images.txt"); do cp "$FIX/images/$f" "$GAL/"; done
"$PYTHON" - "$GAL/more shots" "$TMP" <<'PY' || fail "cannot make the images"
import sys
from PIL import Image
for i in range(60):
    Image.new("RGB", (48, 40), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)).save(f"{sys.argv[1]}/p{i:02d}.png")
im = Image.new("RGB", (96, 64))
im.putdata([(x * 2, y * 3, 128) for y in range(64) for x in range(96)])
im.save(f"{sys.argv[2]}/my photo.png")
open(f"{sys.argv[2]}/not-an-image.png", "w").write("this is text, not a PNG\n")
PY
expect_status 0 seize index build --gallery "$GAL" --model "$MODEL" --out "$TMP/index" --threads 2 -q
n=$(wc -l <"$TMP/index/names.txt")
[ "$n" -eq $(($(wc -w <"$FIX/images.txt") + 60)) ] || fail "index of $n images"

# start_serve NAME ARGS...: starts seize serve on a free port, sets ${NAME}_URL and ${NAME}_PID
_serve_pids=()
trap 'for p in "${_serve_pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; _llm_cleanup' EXIT
start_serve() {
  local name=$1; shift
  local log="$TMP/serve-$name.err"
  # a simple command, not the seize function: $! is then the server (or $WRAP) itself
  $WRAP "$SEIZE_BIN" serve --index "$TMP/index" --model "$MODEL" --gallery "$GAL" --listen 127.0.0.1:0 \
    --threads 2 "$@" >/dev/null 2>"$log" &
  local pid=$!
  _serve_pids+=("$pid")
  local url="" _
  for _ in $(seq 1 2400); do # up to 120 s on a loaded machine
    url=$(sed -n 's|^seize serve: listening on \(http://[^ ]*/\)$|\1|p' "$log")
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; fail "seize serve ($name) exited before listening"; }
    sleep 0.05
  done
  [ -n "$url" ] || { cat "$log" >&2; fail "seize serve ($name) did not say where it listens"; }
  printf -v "${name}_URL" '%s' "$url"
  printf -v "${name}_PID" '%s' "$pid"
}

# stop_serve NAME: SIGTERM; the server must exit 0 (under ASan: no error, no leak after the session)
stop_serve() {
  local pid_var="${1}_PID" rc
  kill -TERM "${!pid_var}"
  wait "${!pid_var}"; rc=$?
  [ "$rc" -eq 0 ] || { tail -30 "$TMP/serve-$1.err" >&2; fail "seize serve ($1) exited $rc after SIGTERM"; }
}

# --- 1. composed search with the stand-in captioner and LLM
start_llm_server CAP
# the stand-in captioner's captions are "a photo of D sample C" (D: sha1 of the image bytes); its LLM
# refuses (400) the edit of the 8th caption of the gallery reference the page test picks (the
# last name), so that the why panel shows a failed edit; the upload's edits all succeed
ref=$(tail -1 "$TMP/index/names.txt")
start_llm_server LLM --reject-word "$(sha1sum "$GAL/$ref" | cut -c1-10) sample 7"
start_serve FULL --captioner-endpoint "$CAP_URL" --captioner-model capmodel \
  --llm-endpoint "$LLM_URL" --llm-model llmmodel
timeout 300 node "$TOP/tests/browser/serve_page.js" composed "$FULL_URL" "$OUT" "$TMP/index/names.txt" "$TMP/my photo.png" ||
  { tail -20 "$TMP/serve-FULL.err" >&2; fail "the page with composed search (screenshots in $OUT)"; }
# two composed searches (a gallery image, the upload; the upload's again from the cache): 15
# captions and 15 edits each (a 400 is not retried)
[ "$(wc -l <"$CAP_LOG")" -ge 2 ] && [ "$(wc -l <"$LLM_LOG")" -eq 30 ] ||
  fail "the stand-in servers saw $(wc -l <"$CAP_LOG") caption and $(wc -l <"$LLM_LOG") edit requests"

stop_serve FULL

# --- 2. a token and no LLM
printf 'web-test-token\n' >"$TMP/token"
start_serve PLAIN --token "$TMP/token"
timeout 300 node "$TOP/tests/browser/serve_page.js" plain "$PLAIN_URL" "$OUT" "$TMP/index/names.txt" web-test-token ||
  { tail -20 "$TMP/serve-PLAIN.err" >&2; fail "the page with a token and no LLM (screenshots in $OUT)"; }
stop_serve PLAIN
for f in serve-desktop.png serve-phone.png serve-plain.png; do
  [ -s "$OUT/$f" ] || fail "no screenshot $OUT/$f"
done
echo "  screenshots: $OUT" >&2
exit 0
