#!/usr/bin/env python3
"""Send COUNT persistent text messages to an ActiveMQ queue over STOMP 1.2 (stdlib only).

usage: stomp_send.py HOST PORT QUEUE COUNT [--body TEXT] [--login USER --passcode PASS]

Each SEND asks for a receipt on the last message only, so the call returns once the broker has
taken all of them (frames on one connection are processed in order). Exit code 0 on success.
"""
import argparse
import socket
import sys


def frame(command, headers, body=b""):
    head = command + "\n" + "".join(f"{k}:{v}\n" for k, v in headers.items()) + "\n"
    return head.encode() + body + b"\x00"


def read_frame(sock, buf):
    while b"\x00" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    raw, _, rest = buf.partition(b"\x00")
    raw = raw.lstrip(b"\r\n")  # heart-beat newlines
    head, _, body = raw.partition(b"\n\n")
    lines = head.decode().split("\n")
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    return lines[0], headers, body, rest


def send(host, port, queue, count, body="hello", login=None, passcode=None, timeout=10.0):
    dest = queue if queue.startswith("/") else "/queue/" + queue
    with socket.create_connection((host, port), timeout=timeout) as sock:
        connect = {"accept-version": "1.2", "host": "localhost", "heart-beat": "0,0"}
        if login is not None:
            connect["login"], connect["passcode"] = login, passcode or ""
        sock.sendall(frame("CONNECT", connect))
        command, headers, fbody, buf = read_frame(sock, b"")
        if command != "CONNECTED":
            raise RuntimeError(f"CONNECT failed: {command} {headers} {fbody!r}")
        out = bytearray()
        for i in range(count):
            payload = f"{body} {i}".encode()
            hdrs = {"destination": dest, "content-type": "text/plain",
                    "content-length": str(len(payload)), "persistent": "true"}
            if i == count - 1:
                hdrs["receipt"] = "last"
            out += frame("SEND", hdrs, payload)
            if len(out) > 65536:
                sock.sendall(out)
                out.clear()
        if out:
            sock.sendall(out)
        if count > 0:
            command, headers, fbody, buf = read_frame(sock, buf)
            if command != "RECEIPT" or headers.get("receipt-id") != "last":
                raise RuntimeError(f"SEND failed: {command} {headers} {fbody!r}")
        sock.sendall(frame("DISCONNECT", {}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("queue")
    p.add_argument("count", type=int)
    p.add_argument("--body", default="hello")
    p.add_argument("--login")
    p.add_argument("--passcode")
    a = p.parse_args()
    send(a.host, a.port, a.queue, a.count, a.body, a.login, a.passcode)
    print(f"sent {a.count} message(s) to {a.queue}", file=sys.stderr)


if __name__ == "__main__":
    main()
