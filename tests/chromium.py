"""Headless Chromium driven over the DevTools protocol (CDP) with aiohttp, for page tests.

``load_page(path, {...})`` opens a local file in a fresh headless Chromium, records console
errors, uncaught exceptions, JS dialogs and every network request, evaluates the given
JavaScript expressions, optionally saves a full-page screenshot, and always kills the
browser's whole process group. Every wait is bounded; ``BrowserError`` says what timed out.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-breakpad", "--disable-crash-reporter", "--disable-dev-shm-usage",
         "--hide-scrollbars", "--mute-audio", "--no-default-browser-check",
         "--remote-debugging-port=0", "--remote-allow-origins=*")


class BrowserError(RuntimeError):
    """Chromium did not start, did not answer, or a page did not load in time."""


def find_chromium() -> str | None:
    """The Chromium binary on PATH (or the Debian path), or None when not installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@dataclass
class PageResult:
    """What happened while a page was loaded, plus the values of the evaluated expressions."""

    url: str
    values: dict[str, Any] = field(default_factory=dict)
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class _Cdp:
    """One websocket to a page target: numbered commands, and a log of events."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self._ws = ws
        self._next = 0
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            waiter = self._pending.pop(data.get("id", -1), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(data)
            elif "method" in data:
                self.events.append(data)
                if data["method"] == "Page.javascriptDialogOpening":  # never block the page
                    self._tasks.add(asyncio.create_task(
                        self.send("Page.handleJavaScriptDialog", accept=False)))
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(BrowserError("DevTools connection closed"))

    async def send(self, method: str, timeout: float = 10.0, **params: Any) -> dict[str, Any]:
        self._next += 1
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._next] = waiter
        await self._ws.send_str(json.dumps({"id": self._next, "method": method, "params": params}))
        try:
            reply = await asyncio.wait_for(waiter, timeout)
        except TimeoutError as exc:
            raise BrowserError(f"no reply to {method} within {timeout}s") from exc
        if "error" in reply:
            raise BrowserError(f"{method} failed: {reply['error']}")
        return dict(reply.get("result", {}))

    async def wait_event(self, method: str, timeout: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            for event in self.events:
                if event["method"] == method:
                    return event
            await asyncio.sleep(0.05)
        raise BrowserError(f"no {method} within {timeout}s")

    async def close(self) -> None:
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


async def _devtools_port(profile: Path, proc: asyncio.subprocess.Process, timeout: float) -> int:
    """Chromium writes its chosen port to ``DevToolsActivePort`` once it listens."""
    marker = profile / "DevToolsActivePort"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if proc.returncode is not None:
            raise BrowserError(f"chromium exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(marker.read_text().splitlines()[0])
        await asyncio.sleep(0.05)
    raise BrowserError(f"chromium wrote no DevToolsActivePort within {timeout}s")


async def _kill_tree(proc: asyncio.subprocess.Process) -> None:
    """TERM then KILL Chromium's process group, and any descendant that left the group."""
    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 3)  # asyncio reaps its own child
        _, descendants = await asyncio.to_thread(psutil.wait_procs, descendants, 1)
        if proc.returncode is not None and not descendants:
            return
    for leftover in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            leftover.kill()


async def _load(binary: str, path: Path, expressions: dict[str, str], screenshot: Path | None,
                region: tuple[int, int] | None, timeout: float) -> PageResult:
    url = (await asyncio.to_thread(path.resolve)).as_uri()
    result = PageResult(url)
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as profile:
        proc = await asyncio.create_subprocess_exec(
            binary, *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,900",
            "about:blank", stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True)
        try:
            port = await _devtools_port(Path(profile), proc, timeout)
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                    targets = await resp.json()
                page = next((t for t in targets if t.get("type") == "page"), None)
                if page is None:
                    raise BrowserError(f"no page target among {targets}")
                ws = await http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
                cdp = _Cdp(ws)
                try:
                    await _drive(cdp, url, expressions, screenshot, region, timeout, result)
                finally:
                    await cdp.close()
        finally:
            await _kill_tree(proc)
    return result


def _write_shot(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def _drive(cdp: _Cdp, url: str, expressions: dict[str, str], screenshot: Path | None,
                 region: tuple[int, int] | None, timeout: float, result: PageResult) -> None:
    for domain in ("Page", "Runtime", "Log", "Network"):
        await cdp.send(f"{domain}.enable")
    await cdp.send("Emulation.setDeviceMetricsOverride", width=1280, height=900,
                   deviceScaleFactor=1, mobile=False)
    cdp.events.clear()
    await cdp.send("Page.navigate", url=url)
    await cdp.wait_event("Page.loadEventFired", timeout)
    for name, expression in expressions.items():
        reply = await cdp.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in reply:
            raise BrowserError(f"evaluating {name!r}: {reply['exceptionDetails']}")
        result.values[name] = reply.get("result", {}).get("value")
    if screenshot is not None:
        metrics = await cdp.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        top, height = region or (0, size["height"])
        clip = {"x": 0, "y": top, "width": min(size["width"], 1280),
                "height": min(height, size["height"] - top, 12000), "scale": 1}
        shot = await cdp.send("Page.captureScreenshot", timeout=timeout, format="png",
                              clip=clip, captureBeyondViewport=True)
        await asyncio.to_thread(_write_shot, screenshot, base64.b64decode(shot["data"]))
    _collect(cdp.events, result)


def _collect(events: list[dict[str, Any]], result: PageResult) -> None:
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            result.console_errors.append(json.dumps(params.get("args"))[:500])
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            result.console_errors.append(str(params["entry"].get("text"))[:500])
        elif method == "Runtime.exceptionThrown":
            result.exceptions.append(json.dumps(params.get("exceptionDetails"))[:500])
        elif method == "Page.javascriptDialogOpening":
            result.dialogs.append(str(params.get("message")))
        elif method == "Network.requestWillBeSent":
            result.requests.append(str(params.get("request", {}).get("url")))


def load_page(path: Path, expressions: dict[str, str] | None = None,
              screenshot: Path | None = None, region: tuple[int, int] | None = None,
              timeout: float = 15.0) -> PageResult:
    """Open ``path`` in headless Chromium and report what happened (see ``PageResult``).

    ``screenshot``: save a PNG of the full page there, or of ``region`` = (top, height) in
    CSS pixels. ``expressions``: name -> JavaScript expression, values returned by value.
    """
    binary = find_chromium()
    if binary is None:
        raise BrowserError("chromium is not installed")

    async def run() -> PageResult:
        return await asyncio.wait_for(
            _load(binary, path, dict(expressions or {}), screenshot, region, timeout),
            timeout + 5)

    return asyncio.run(run())
