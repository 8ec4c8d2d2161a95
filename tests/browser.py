"""Open local HTML pages in headless Chromium, with the network off, and say what happened.

Standard library only: Chromium's DevTools protocol over ``--remote-debugging-pipe`` (JSON
messages ending in a NUL byte, read from the browser's fd 4, written to its fd 3). For each page:
every request that tried to leave the machine (caught by the ``Fetch`` domain and failed, never
sent), console errors and uncaught exceptions, whether a script planted in the data ran (it would
set ``window.__ftprep_xss``), the text on screen, the document's height, and a PNG screenshot of
the whole page. The browser runs with the network emulated offline, every host name resolving to
nothing and a proxy that goes nowhere, so Chromium's own background traffic cannot leave either;
inside ``unshare -n`` when that works (root), a namespace with no network at all.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

LOCAL = {"file", "data", "blob", "about", "chrome-error", "devtools"}
FLAGS = [
    "--headless",
    "--no-sandbox",  # as root, Chromium refuses to start with its sandbox
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--metrics-recording-only",
    "--no-pings",
    "--mute-audio",
    "--hide-scrollbars",
    "--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater,"
    "NetworkTimeServiceQuerying",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--window-size=1280,900",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _no_network_prefix() -> list[str]:
    """``unshare -n`` when this user may make a network namespace (root), else nothing."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


@dataclass
class PageCheck:
    page: str
    external_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    data_script_ran: object = None
    text: str = ""
    height: int = 0
    screenshot: Path | None = None
    values: dict = field(default_factory=dict)  # what the caller's expressions evaluated to


class Chromium:
    def __init__(self, exe: str):
        self.profile = tempfile.mkdtemp(prefix="ftprep-chromium-")
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()

        def child_fds() -> None:
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [
                *_no_network_prefix(),
                exe,
                *FLAGS,
                "--remote-debugging-pipe",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            pass_fds=(3, 4),  # close_fds runs after preexec_fn: keep 3 and 4 open
            preexec_fn=child_fds,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []
        self.external: list[str] = []

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def post(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._w, json.dumps(message).encode() + b"\0")
        return self._id

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        want = self.post(method, params, session)
        while True:
            message = self._next()
            if message.get("id") == want:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def _next(self) -> dict:
        """One message; events are kept, and a paused request is answered at once (a navigation
        waits for its own request, so the caller waiting on it must not block)."""
        message = self._read()
        if "method" in message:
            self.events.append(message)
            if message["method"] == "Fetch.requestPaused":
                params, session = message["params"], message.get("sessionId")
                url = params["request"]["url"]
                if urlsplit(url).scheme in LOCAL:
                    self.post("Fetch.continueRequest", {"requestId": params["requestId"]}, session)
                else:
                    self.external.append(url)
                    self.post(
                        "Fetch.failRequest",
                        {"requestId": params["requestId"], "errorReason": "InternetDisconnected"},
                        session,
                    )
        return message

    def _read(self) -> dict:
        while b"\0" not in self._buf:
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def _wait_for(self, method: str, session: str, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while not any(
            e.get("method") == method and e.get("sessionId") == session for e in self.events
        ):
            if time.monotonic() > end:
                raise TimeoutError(method)
            self._next()

    def check(
        self, page: Path, screenshot: Path | None = None, expressions: dict | None = None
    ) -> PageCheck:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for method in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            self.send(method, session=session)
        self.send(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
            session=session,
        )
        self.send("Fetch.enable", {"patterns": [{"urlPattern": "*"}]}, session=session)
        self.events.clear()
        self.external.clear()
        self.send("Page.navigate", {"url": Path(page).resolve().as_uri()}, session=session)
        self._wait_for("Page.loadEventFired", session)
        time.sleep(0.3)  # late scripts and requests

        def evaluate(expression: str):
            result = self.send(
                "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session
            )
            return result["result"].get("value")

        found = PageCheck(str(page), external_requests=list(self.external))
        found.data_script_ran = evaluate("window.__ftprep_xss ?? null")
        found.text = evaluate("document.body ? document.body.innerText : ''") or ""
        found.height = int(evaluate("document.documentElement.scrollHeight") or 0)
        found.values = {name: evaluate(js) for name, js in (expressions or {}).items()}
        if screenshot is not None:
            shot = self.send(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": True},
                session,
            )
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            found.screenshot = screenshot
        mine = [e for e in self.events if e.get("sessionId") == session]
        for e in mine:
            if e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in (
                "error",
                "assert",
            ):
                found.console_errors.append(
                    " ".join(
                        str(a.get("value", a.get("description", ""))) for a in e["params"]["args"]
                    )
                )
            elif e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error":
                entry = e["params"]["entry"]
                found.console_errors.append(f"{entry['text']} {entry.get('url', '')}".strip())
            elif e["method"] == "Runtime.exceptionThrown":
                details = e["params"]["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details["text"]
                found.exceptions.append(text.splitlines()[0])
        self.send("Target.closeTarget", {"targetId": target})
        return found

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)
