#!/usr/bin/env bash
# seize fetch-model against a local hub stand-in: resume after a dropped connection, checksum,
# no second download, 404 and corrupt files reported by name.
source "$(dirname "$0")/lib.sh"
need_fixtures

repo="$TMP/hub/openai/clip-vit-base-patch32"
mkdir -p "$repo"
for f in model.safetensors config.json vocab.json merges.txt; do cp "$FIX/models/tiny-openai/$f" "$repo/"; done

start_server() { # start_server EXTRA_ARGS...
  : >"$TMP/log"
  # the previous server's port must not be read: the shell truncates the file only when the
  # background child starts, which may be after the first check below
  rm -f "$TMP/port"
  "$PYTHON" "$TOP/tests/servers/hub_server.py" "$TMP/hub" --log "$TMP/log" "$@" >"$TMP/port" \
    2>"$TMP/server.err" &
  SERVER=$!
  # up to 120 s: Python starts slowly on a loaded machine (a sanitizer suite beside it)
  for _ in $(seq 2400); do
    [ -s "$TMP/port" ] && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$TMP/server.err" >&2; fail "hub server exited"; }
    sleep 0.05
  done
  PORT=$(cat "$TMP/port")
  [ -n "$PORT" ] || fail "hub server did not report its port within 120 s"
}
stop_server() { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; }
trap 'stop_server; rm -rf "$TMP"' EXIT

# 1. the big file's first transfer is dropped halfway: the retry resumes with a Range request
start_server --drop-after 3000000
expect_status 0 seize fetch-model ViT-B-32 --endpoint "http://127.0.0.1:$PORT" --cache "$TMP/cache" --retry-base 0.05 --quiet
dir=$(cat "$TMP/out")
[ "$dir" = "$TMP/cache/models/ViT-B-32" ] || fail "printed '$dir'"
for f in model.safetensors config.json vocab.json merges.txt; do
  cmp -s "$repo/$f" "$dir/$f" || fail "$f differs after download"
done
grep -q "^GET /cdn/.* bytes=3000000-" "$TMP/log" || { cat "$TMP/log" >&2; fail "no resumed Range request"; }
ls "$dir"/*.incomplete >/dev/null 2>&1 && fail "partial files left behind"
seize inspect --json "$dir" >/dev/null || fail "the downloaded folder does not load"

# 2. a rerun downloads nothing
: >"$TMP/log"
expect_status 0 seize fetch-model ViT-B-32 --endpoint "http://127.0.0.1:$PORT" --cache "$TMP/cache" --quiet
[ ! -s "$TMP/log" ] || fail "rerun sent requests: $(cat "$TMP/log")"

# 2b. --layout transformers fetches the transformers files; "hf" is its older name
for layout in transformers hf; do
  expect_status 0 seize fetch-model openai/clip-vit-base-patch32 --layout "$layout" \
    --endpoint "http://127.0.0.1:$PORT" --cache "$TMP/l-$layout" --quiet
  cmp -s "$repo/model.safetensors" "$TMP/l-$layout/models/openai--clip-vit-base-patch32/model.safetensors" ||
    fail "--layout $layout: model.safetensors not fetched"
done
stop_server

# 3. a corrupt transfer is caught by the checksum, named, and not kept
start_server --corrupt model.safetensors
expect_status 1 seize fetch-model ViT-B-32 --endpoint "http://127.0.0.1:$PORT" --cache "$TMP/c2" --quiet
grep -q "model.safetensors" "$TMP/err" && grep -q "sha256" "$TMP/err" || fail "corrupt: $(cat "$TMP/err")"
[ ! -e "$TMP/c2/models/ViT-B-32/model.safetensors" ] || fail "corrupt file kept"
[ ! -e "$TMP/c2/models/ViT-B-32/model.safetensors.incomplete" ] || fail "corrupt partial kept"

# 4. a repository without the file: 404 named, no retries
: >"$TMP/log"
expect_status 1 seize fetch-model someone/missing --endpoint "http://127.0.0.1:$PORT" --cache "$TMP/c3" --quiet
grep -q "config.json" "$TMP/err" && grep -q "404" "$TMP/err" || fail "404: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/log")" -eq 1 ] || fail "404 was retried: $(cat "$TMP/log")"

[ -z "$(find "$TMP/c3" -name '*.incomplete')" ] || fail "404 left a partial file: $(find "$TMP/c3" -name '*.incomplete')"
stop_server

# 5. a 200 with an HTML page (captive portal, proxy error) is never kept as the model file
for f in model.safetensors config.json; do
  start_server --html "$f"
  expect_status 1 seize fetch-model ViT-B-32 --endpoint "http://127.0.0.1:$PORT" --cache "$TMP/h-$f" --retry-base 0.01 --quiet
  grep -q "'$f'" "$TMP/err" && grep -q "HTML page" "$TMP/err" || fail "HTML $f: $(cat "$TMP/err")"
  grep -qi "retry\|rerun" "$TMP/err" && fail "HTML $f: suggests a retry: $(cat "$TMP/err")"
  [ ! -e "$TMP/h-$f/models/ViT-B-32/$f" ] || fail "HTML page kept as $f"
  [ -z "$(find "$TMP/h-$f" -name '*.incomplete')" ] || fail "HTML $f: partial file left"
  [ "$(grep -c "resolve/main/$f" "$TMP/log")" -eq 1 ] || fail "HTML $f was fetched again: $(cat "$TMP/log")"
  stop_server
done

# 6. offline (connection refused): fails after two attempts with a hint, leaves nothing behind,
#    never shows the endpoint's password or the token
"$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$TMP/closed"
CLOSED=$(cat "$TMP/closed")
HF_TOKEN=hf_tok_SECRET123 expect_status 1 seize fetch-model ViT-B-32 \
  --endpoint "http://someone:pw-SECRET-777@127.0.0.1:$CLOSED" --cache "$TMP/c5" --max-attempts 5 --retry-base 0.01 --quiet
grep -q "2 attempts" "$TMP/err" || fail "offline: attempts not given: $(cat "$TMP/err")"
grep -q "HF_ENDPOINT" "$TMP/err" && grep -q -- "--model" "$TMP/err" || fail "offline: no hint: $(cat "$TMP/err")"
grep -q "pw-SECRET-777\|hf_tok_SECRET123" "$TMP/err" && fail "offline: a secret is shown: $(cat "$TMP/err")"
grep -q "someone:\*\*\*@127.0.0.1" "$TMP/err" || fail "offline: the hub address is not shown redacted: $(cat "$TMP/err")"
[ -z "$(find "$TMP/c5" -name '*.incomplete')" ] || fail "offline: empty partial files left"

# 6b. blip2-opt-2.7b: the sharded transformers layout; the index is fetched first and its
#     weight_map names the shards (each once), then the tokenizer and processor files
B2="$TMP/hub/Salesforce/blip2-opt-2.7b"
mkdir -p "$B2"
for f in config.json vocab.json merges.txt tokenizer_config.json special_tokens_map.json \
  preprocessor_config.json generation_config.json; do cp "$FIX/blip2/tiny224/$f" "$B2/"; done
cp "$FIX/blip2/tiny224/model.safetensors" "$B2/model-00001-of-00002.safetensors"
cp "$FIX/blip2/tiny364/model.safetensors" "$B2/model-00002-of-00002.safetensors"
printf '{"metadata": {}, "weight_map": {"a.weight": "model-00002-of-00002.safetensors", "b.weight": "model-00001-of-00002.safetensors", "c.bias": "model-00002-of-00002.safetensors"}}\n' \
  >"$B2/model.safetensors.index.json"
start_server
expect_status 0 seize fetch-model blip2-opt-2.7b --endpoint "http://127.0.0.1:$PORT" --cache "$TMP/b2" --quiet
dir=$(cat "$TMP/out")
[ "$dir" = "$TMP/b2/models/blip2-opt-2.7b" ] || fail "blip2: printed '$dir'"
for f in $(ls "$B2"); do cmp -s "$B2/$f" "$dir/$f" || fail "blip2: $f missing or different"; done
grep "resolve/main/" "$TMP/log" | sed 's|.*resolve/main/\([^ ]*\).*|\1|' >"$TMP/order"
[ "$(sed -n 2p "$TMP/order")" = model.safetensors.index.json ] || fail "blip2: order: $(cat "$TMP/order")"
[ "$(grep -c 'model-0000[12]-of-00002' "$TMP/order")" -eq 2 ] || fail "blip2: shards: $(cat "$TMP/order")"
[ "$(wc -l <"$TMP/order")" -eq 10 ] || fail "blip2: files: $(cat "$TMP/order")"
# an index naming a file outside the folder is refused, naming the index and the tensor
printf '{"weight_map": {"x.weight": "../../evil.safetensors"}}\n' >"$B2/model.safetensors.index.json"
expect_status 1 seize fetch-model Salesforce/blip2-opt-2.7b --layout blip2 --endpoint "http://127.0.0.1:$PORT" --cache "$TMP/b3" --quiet
grep -q "model.safetensors.index.json" "$TMP/err" && grep -q "x.weight" "$TMP/err" || fail "bad index: $(cat "$TMP/err")"
[ ! -e "$TMP/b3/evil.safetensors" ] && ! grep -q evil "$TMP/log" || fail "bad index: the file was fetched"
stop_server

# 7. usage errors
expect_status 2 seize fetch-model
expect_status 2 seize fetch-model --layout bogus ViT-B-32
grep -q "transformers" "$TMP/err" || fail "--layout bogus: the layouts are not named: $(cat "$TMP/err")"
expect_status 1 seize fetch-model NoSuchModel --cache "$TMP/c4" --quiet
grep -q "unknown model" "$TMP/err" || fail "unknown name: $(cat "$TMP/err")"
expect_status 0 seize fetch-model --help
exit 0
