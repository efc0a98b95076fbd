"""Start the app's Streamlit server on 127.0.0.1, with nothing leaving the machine.

Streamlit is started in this process, as ``streamlit run`` starts it (its bootstrap), with
the options below set explicitly so that no ``config.toml`` of the user's can change them:
the server listens on 127.0.0.1 only, sends no usage statistics, watches no files, and
shows no developer menu; uncaught errors show no traceback in the page (the page catches
what it can and says it in one line, as the command line does).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ephys2type.errors import Ephys2TypeError

#: The only address the server listens on.
HOST = "127.0.0.1"
#: Tried first when no port is given (Streamlit's usual one), so the page keeps its address
#: from one session to the next when nothing else holds it.
DEFAULT_PORT = 8501
#: Largest upload, MB (an NWB file of a whole cell can be a few hundred MB).
MAX_UPLOAD_MB = 2000
#: How long to wait for the server to answer before giving up saying where it is.
READY_TIMEOUT_S = 60.0


def page_script() -> Path:
    """The script Streamlit runs for the app."""
    return Path(__file__).parent / "script" / "ephys2type_page.py"


def streamlit_options(port: int) -> dict[str, Any]:
    """Streamlit's configuration for the app (option name -> value)."""
    return {
        "server.address": HOST,
        "server.port": port,
        "server.headless": True,  # the app opens the browser itself (or not, --no-browser)
        "server.fileWatcherType": "none",
        "server.runOnSave": False,
        "server.maxUploadSize": MAX_UPLOAD_MB,
        "browser.serverAddress": HOST,
        "browser.serverPort": port,
        "browser.gatherUsageStats": False,
        "global.developmentMode": False,
        "client.toolbarMode": "viewer",
        "client.showErrorDetails": "none",
        "client.showErrorLinks": False,
        "logger.hideWelcomeMessage": True,
        "logger.level": "error",  # Streamlit's and uvicorn's notes stay off the terminal
        "theme.base": "light",
    }


def app_url(port: int) -> str:
    """The page's address."""
    return f"http://{HOST}:{port}"


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` of 127.0.0.1 now (connections of an
    earlier server still closing do not hold it, as they do not hold the server's own
    socket)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """:data:`DEFAULT_PORT` if it is free, else a free port the system picks."""
    if port_is_free(DEFAULT_PORT):
        return DEFAULT_PORT
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_until_ready(url: str, timeout: float = READY_TIMEOUT_S) -> bool:
    """Whether the server at ``url`` answered its health check within ``timeout`` seconds
    (asked directly, never through a proxy)."""
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with opener.open(f"{url}/_stcore/health", timeout=1.0) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def _announce(url: str, on_ready: Callable[[str], None] | None, open_browser: bool) -> None:
    if not wait_until_ready(url):
        return
    if on_ready is not None:
        on_ready(url)
    if open_browser:
        import webbrowser

        webbrowser.open(url)


def serve(
    port: int | None = None,
    *,
    open_browser: bool = True,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run the app until the process is interrupted (Ctrl-C). ``port``: on 127.0.0.1
    (default: :func:`free_port`); ``on_ready(url)`` is called once the page answers, then
    the default browser opens it unless ``open_browser`` is False."""
    if port is None:
        port = free_port()
    elif not port_is_free(port):
        raise Ephys2TypeError(
            f"port {port} of {HOST} is in use; choose another --port or leave it out"
        )
    from streamlit.web import bootstrap

    # bootstrap reads flag names with '_' for '.', as `streamlit run --server.port` gives them
    flags = {name.replace(".", "_"): value for name, value in streamlit_options(port).items()}
    bootstrap.load_config_options(flag_options=flags)
    threading.Thread(
        target=_announce, args=(app_url(port), on_ready, open_browser), daemon=True
    ).start()
    bootstrap.run(str(page_script()), False, [], flags)
