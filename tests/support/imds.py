# A stand-in for the Azure Instance Metadata Service: serves a fixture document to requests that
# carry "Metadata: true" (400 otherwise, as IMDS does). Modes: serve, slow (never answers),
# garbage (not HTTP). Usage: imds.py ADDR PORT MODE FILE
import sys, time
from common import serve_requests

addr, port, mode, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
body = open(path, "rb").read()

def serve(conn, data):
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

serve_requests(addr, port, serve)
