"""`python -m tests.offline_cli ARGS`: the workbench CLI in a process where any attempt to reach the
network is refused and said on stderr (a line starting with `network use:`).

An audit hook sees every name look-up and connection made through Python's `socket` module (the
standard library's clients, requests and the like, whatever library makes them). Native code that
opens sockets itself (the C2PA SDK, FFmpeg) bypasses it: the test also points the standard proxy
variables at a port it watches, which native HTTP clients honour.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

NETWORK_EVENTS = frozenset({
    "socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind", "socket.getaddrinfo",
    "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo", "urllib.Request",
})  # fmt: skip
MARK = "network use:"


def refuse_network(event: str, args: tuple[Any, ...]) -> None:
    """Audit hook: a local (AF_UNIX) socket is no network use; anything else in NETWORK_EVENTS is."""
    if event not in NETWORK_EVENTS:
        return
    if event.startswith("socket.") and args and isinstance(args[0], socket.socket) and args[0].family == socket.AF_UNIX:
        return
    sys.stderr.write(f"{MARK} {event} {args[1:]!r}\n")
    raise PermissionError(f"network use refused: {event}")


if __name__ == "__main__":
    sys.addaudithook(refuse_network)  # before the workbench is imported: its imports are watched too
    from workbench.__main__ import main

    sys.exit(main(sys.argv[1:]))
