"""Serve a report directory over HTTP on 127.0.0.1 only (`lowbit report --serve`), for a
browser on the same machine. Static files, no directory listings outside the report."""

from __future__ import annotations

import functools
import http.server
import logging
from pathlib import Path
from typing import Any

__all__ = ["report_server"]

log = logging.getLogger(__name__)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def report_server(directory: str | Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """An HTTP server for `directory` bound to 127.0.0.1:`port` (0: any free port, read it
    from ``server.server_address[1]``). The caller runs ``serve_forever()`` and, when done,
    ``shutdown()`` and ``server_close()``."""
    from lowbit.kernels_ref.errors import InvalidSpecError

    d = Path(directory)
    if not (d / "index.html").is_file():
        raise InvalidSpecError(f"report --serve: {d}: no index.html to serve")
    if not 0 <= int(port) <= 65535:
        raise InvalidSpecError(f"report --port: {port} is not a TCP port (0-65535)")
    handler = functools.partial(_Quiet, directory=str(d.resolve()))
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), handler)
    except OSError as exc:
        raise InvalidSpecError(f"report --serve: cannot listen on 127.0.0.1:{port} ({exc.strerror})") from None
