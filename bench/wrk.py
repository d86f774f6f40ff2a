"""Drive an HTTP endpoint with ``wrk`` (Debian's package): a native load generator, so the client's own CPU
is not the Python interpreter the server competes with.

The Lua script posts one JSON body whose ``submission_id`` it replaces with a fresh UUID on every request
(thread number, run nonce and a counter: unique across wrk's threads and across runs), and prints the result
as one JSON line from ``done()`` so no text has to be scraped.

Without ``rate`` wrk runs closed-loop: every connection sends its next request as soon as the previous answer
arrives (the most the server can do at that concurrency).  With ``rate`` it offers a fixed load instead: each
wrk thread hands out send times on a fixed grid (``rate / threads`` per second from the thread's start) and
wrk's ``delay()`` hook holds a connection's next request until its slot (LuaJIT's ffi reads the monotonic
clock: Lua itself has no sub-second clock).  A request whose slot has passed goes at once, so a server that
falls behind is offered the backlog rather than less load; wrk times a request from when it is sent, so the
percentiles are those of the requests as sent (wrk2 would also count the wait of a late slot).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

PLACEHOLDER = "00000000-0000-4000-8000-000000000000"

_LUA = r"""
local body_template = [==[@BODY@]==]
local placeholder = "@PLACEHOLDER@"
local nonce = "@NONCE@"
local threads = {}
local counter = 0
local tid = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  tid = tonumber(wrk.thread:get("tid")) or 0
end

local function minted()
  counter = counter + 1
  -- 8-4-4-4-12 hex digits: nonce (8), thread (4), version nibble + 3, variant nibble + 3, counter (12)
  return string.format("%s-%04x-4000-8000-%012x", nonce, tid, counter)
end

request = function()
  local id = minted()
  local body = body_template:gsub(placeholder, id, 1)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Authorization"] = "@AUTH@"}, body)
end

@PACING@
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\": %d, \"duration_us\": %d, \"non2xx\": %d, \"connect\": %d, \"read\": %d, " ..
    "\"write\": %d, \"timeout\": %d, \"p50_us\": %d, \"p95_us\": %d, \"p99_us\": %d, \"max_us\": %d}\n",
    summary.requests, summary.duration, errors.status, errors.connect, errors.read, errors.write,
    errors.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


#: ``delay()`` for a fixed offered rate: slots every @INTERVAL_MS@ ms per thread, from the thread's first request
_PACING = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } score_timespec;
int clock_gettime(int clk_id, score_timespec *tp);
]]
local ts = ffi.new("score_timespec[1]")
local interval_ms = @INTERVAL_MS@
local next_slot = nil

local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts[0].tv_sec) * 1000 + tonumber(ts[0].tv_nsec) / 1e6
end

delay = function()
  local now = now_ms()
  if next_slot == nil then next_slot = now end
  local slot = next_slot
  next_slot = next_slot + interval_ms
  local wait = slot - now
  if wait <= 0 then return 0 end
  return math.floor(wait + 0.5)
end
"""


def available() -> str | None:
    return shutil.which("wrk")


def run(
    url: str,
    body: dict[str, Any],
    *,
    connections: int,
    seconds: float,
    token: str,
    threads: int = 2,
    rate: float | None = None,
) -> dict[str, Any]:
    """POST ``body`` (its ``submission_id`` minted per request) with a bearer ``token`` for ``seconds``:
    requests/s, percentiles (ms) and error counts.  ``rate``: offer that many requests/s in all (paced by
    ``delay()``) instead of as many as the server answers; ``connections`` then only bounds how many can be
    in flight at once."""
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    exe = available()
    if exe is None:
        raise RuntimeError("wrk is not installed (make bench installs it: apt-get install wrk)")
    payload = json.dumps({**body, "submission_id": PLACEHOLDER}, ensure_ascii=False)
    pacing = "" if rate is None else _PACING.replace("@INTERVAL_MS@", repr(1000.0 * threads / rate))
    script = (
        _LUA.replace("@PACING@", pacing)
        .replace("@BODY@", payload)
        .replace("@PLACEHOLDER@", PLACEHOLDER.replace("-", "%-"))
        .replace("@NONCE@", secrets.token_hex(4))
        .replace("@AUTH@", f"Bearer {token}")
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False, encoding="utf-8") as f:
        f.write(script)
        path = Path(f.name)
    try:
        proc = subprocess.run(
            [
                exe,
                "-t",
                str(threads),
                "-c",
                str(connections),
                "-d",
                f"{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(path),
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
    finally:
        path.unlink(missing_ok=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{proc.stdout}\n{proc.stderr}")
    raw = json.loads(line[len("WRKJSON ") :])
    secs = raw["duration_us"] / 1e6
    errors = raw["non2xx"] + raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {
        "requests": raw["requests"],
        "seconds": secs,
        "rate": raw["requests"] / secs if secs else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        "errors": errors,
        "non2xx": raw["non2xx"],
        "offered_rate": rate,
    }
