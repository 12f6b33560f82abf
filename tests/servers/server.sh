# Sourced by tests and benchmarks after tests/cli/lib.sh: starts tests/servers/openai_server.py
# on 127.0.0.1 (a free port) and stops it on exit.
#   start_llm_server NAME [server options...]   sets ${NAME}_URL (http://127.0.0.1:PORT/v1),
#                                               ${NAME}_PID and ${NAME}_LOG (its request log)
SERVERS_DIR=${SERVERS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
_llm_pids=()
_llm_cleanup() {
  for p in "${_llm_pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${_llm_pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap _llm_cleanup EXIT

start_llm_server() {
  local name=$1; shift
  local dir="$TMP/server-$name"
  mkdir -p "$dir"
  rm -f "$dir/port" # a server started before under this name must not be taken for this one
  "$PYTHON" "$SERVERS_DIR/openai_server.py" --port-file "$dir/port" --log "$dir/log.jsonl" "$@" \
    2>"$dir/stderr" &
  local pid=$!
  _llm_pids+=("$pid")
  local i
  for i in $(seq 1 2400); do # up to 120 s: Python starts slowly on a loaded machine
    [ -s "$dir/port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/stderr" >&2; fail "test server '$name' did not start"; }
    sleep 0.05
  done
  [ -s "$dir/port" ] || fail "test server '$name' did not report its port"
  printf -v "${name}_URL" 'http://127.0.0.1:%s/v1' "$(cat "$dir/port")"
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_LOG" '%s' "$dir/log.jsonl"
  touch "$dir/log.jsonl"
}
