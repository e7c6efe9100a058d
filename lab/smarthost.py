"""A slow SMTP smart host for lab hosts: accepts every message, sleeps, records it.

Run inside a lab container (`lab.py fault HOST slow-smarthost --delay S`): it listens on
127.0.0.2:2526, where the lab's sendmail relays remote mail, waits DELAY seconds
before answering the end of DATA, and longer while /var/lib/lab-smarthost/hold
exists (at most 5 minutes): a queue runner delivering to it holds the message's
lock that long, and a test decides when it lets go. It appends one line per
accepted message to /var/lib/lab-smarthost/deliveries: the time, then the
Message-Id. Counting the lines per Message-Id counts deliveries: a duplicate
shows as two lines.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import threading
import time

LOG_DIR = "/var/lib/lab-smarthost"
MESSAGE_ID = re.compile(rb"^Message-Id:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def serve(conn: socket.socket, delay: float, lock: threading.Lock) -> None:
    rfile = conn.makefile("rb")

    def say(line: str) -> None:
        conn.sendall(line.encode("ascii") + b"\r\n")

    try:
        say("220 smarthost.lab.test ESMTP lab slow smart host")
        while True:
            line = rfile.readline(4096)
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                say("250 smarthost.lab.test")
            elif verb == b"DATA":
                say("354 go ahead")
                body = []
                while True:
                    data = rfile.readline(1 << 20)
                    if not data or data in (b".\r\n", b".\n"):
                        break
                    body.append(data)
                time.sleep(delay)
                deadline = time.monotonic() + 300
                while os.path.exists(os.path.join(LOG_DIR, "hold")) and time.monotonic() < deadline:
                    time.sleep(0.1)
                found = MESSAGE_ID.search(b"".join(body))
                ident = found.group(1).decode("ascii", "replace") if found else "no-message-id"
                with lock, open(os.path.join(LOG_DIR, "deliveries"), "a", encoding="ascii") as fh:
                    fh.write(f"{time.time():.3f} {ident}\n")
                say("250 2.0.0 accepted")
            elif verb == b"QUIT":
                say("221 2.0.0 bye")
                return
            else:
                say("250 2.0.0 ok")
    except OSError:
        return
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=20.0)
    parser.add_argument("--address", default="127.0.0.2")
    parser.add_argument("--port", type=int, default=2526)
    args = parser.parse_args()
    os.makedirs(LOG_DIR, exist_ok=True)
    lock = threading.Lock()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((args.address, args.port))
    server.listen(16)
    while True:
        conn, _peer = server.accept()
        threading.Thread(target=serve, args=(conn, args.delay, lock), daemon=True).start()


if __name__ == "__main__":
    main()
