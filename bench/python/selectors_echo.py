"""Echo server on Python's selectors module, the way the seed texts teach it.

The selector (epoll on Linux) says which socket is ready; a callback stored as the key's
data handles it: accept() registers each new connection for EVENT_READ with read(). A
recv() of b"" means the peer closed: unregister and close. As the non-blocking-I/O text
shows, send() can also fall short, so what it did not take waits in a buffer and the
connection is registered for EVENT_WRITE until the buffer is empty.

Usage: python3 selectors_echo.py [port]   (listens on 127.0.0.1 only)
"""
import selectors
import socket
import sys

sel = selectors.DefaultSelector()
pending = {}  # conn -> bytes send() has not taken yet


def accept(server, mask):
    while True:
        try:
            conn, _ = server.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sel.register(conn, selectors.EVENT_READ, serve)


def close(conn):
    sel.unregister(conn)
    pending.pop(conn, None)
    conn.close()


def serve(conn, mask):
    try:
        if mask & selectors.EVENT_WRITE:
            rest = pending[conn]
            sent = conn.send(rest)
            if sent < len(rest):
                pending[conn] = rest[sent:]
                return
            del pending[conn]
            sel.modify(conn, selectors.EVENT_READ, serve)
        if mask & selectors.EVENT_READ:
            data = conn.recv(65536)
            if not data:
                close(conn)
                return
            if conn in pending:
                pending[conn] += data
                return
            try:
                sent = conn.send(data)
            except BlockingIOError:
                sent = 0
            if sent < len(data):
                pending[conn] = data[sent:]
                sel.modify(conn, selectors.EVENT_READ | selectors.EVENT_WRITE, serve)
    except BlockingIOError:
        pass
    except OSError:  # ECONNRESET, EPIPE: the peer is gone
        close(conn)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 7000
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(4096)
    server.setblocking(False)
    sel.register(server, selectors.EVENT_READ, accept)
    while True:
        for key, mask in sel.select():
            key.data(key.fileobj, mask)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
