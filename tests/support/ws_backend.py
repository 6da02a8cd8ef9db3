# A WebSocket endpoint for nginx to proxy to: answers the upgrade with 101 (mode "upgrade"),
# or asks for sign-in with 401 (mode "auth"); a request without Upgrade gets 400.
# Usage: ws_backend.py ADDR PORT MODE
import base64, hashlib, sys
from common import serve_requests

addr, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

def serve(conn, data):
    headers = {}
    for line in data.split(b"\r\n")[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().lower()] = v.strip()
    if headers.get(b"upgrade", b"").lower() != b"websocket":
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nServer: ws-backend\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
    if mode == "auth":
        conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nServer: ws-backend\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return
    key = headers.get(b"sec-websocket-key", b"").decode()
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Accept: " + accept + "\r\n\r\n").encode())
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass

serve_requests(addr, port, serve)
