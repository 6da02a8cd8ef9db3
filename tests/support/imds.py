# A stand-in for the Azure Instance Metadata Service: serves a fixture document to requests that
# carry "Metadata: true" (400 otherwise, as IMDS does). Modes: serve, slow (never answers),
# garbage (not HTTP). Usage: imds.py ADDR PORT MODE FILE
import socket, sys, threading, time

addr, port, mode, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
body = open(path, "rb").read()

def serve(conn):
    with conn:
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        if mode == "slow":
            time.sleep(30)
            return
        if mode == "garbage":
            conn.sendall(b"\x00\x01\x02 not http at all")
            return
        head = data.split(b"\r\n\r\n")[0].lower()
        if b"metadata: true" not in head or not data.startswith(b"GET /metadata/instance"):
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port))
s.listen(16)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
