# What the test servers share: reading a request head, and serving each connection in a thread.
import socket, threading

def read_head(conn, limit=65536):
    """The bytes up to the end of an HTTP request head; None if the peer closed first."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data

def serve_forever(addr, port, handle, backlog=64):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(backlog)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()

def serve_requests(addr, port, answer):
    """Serve each connection in a thread: read its request head and pass both to `answer`."""
    def handle(conn):
        with conn:
            conn.settimeout(10)
            head = read_head(conn)
            if head is not None:
                answer(conn, head)
    serve_forever(addr, port, handle)
