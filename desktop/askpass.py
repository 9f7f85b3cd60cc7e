"""`glmv-desktop --askpass PROMPT`: the program ssh runs to ask for a key's passphrase (SSH_ASKPASS).

It hands the prompt to the running app over the socket named in GLMV_ASKPASS_SOCKET (in a folder only
this user can open, see desktop/backends/ssh.py), prints the answer for ssh and exits; exit status 1
when the user cancelled. Nothing is written anywhere else.
"""

from __future__ import annotations

import os
import socket
import sys

from desktop.backends.ssh import ASKPASS_ENV


def main(argv: list[str]) -> int:
    """Ask the app for the answer to `argv[0]` (ssh's prompt); print it."""
    path = os.environ.get(ASKPASS_ENV)
    if not path or not hasattr(socket, "AF_UNIX"):
        return 1
    prompt = " ".join(argv).replace("\n", " ")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as channel:
        channel.settimeout(600)
        try:
            channel.connect(path)
            channel.sendall(prompt.encode("utf-8") + b"\n")
            answer = b""
            while chunk := channel.recv(4096):
                answer += chunk
        except OSError:
            return 1
    if not answer.endswith(b"\n"):
        return 1  # cancelled: the app closed the channel without an answer
    sys.stdout.buffer.write(answer)
    sys.stdout.flush()
    return 0
