# Servers that misbehave, optionally behind TLS, for the probe's hostile-server scenarios.
#   silent         accept, then never send a byte
#   garbage        send bytes that are not HTTP, then hang
#   trickle        start an HTTP answer, then one byte every 200 ms, forever
#   endless-header start an HTTP answer, then header bytes as fast as possible, forever
#   block-page     an HTTP/1.0 503 block page from "Contoso-Firewall" (what firewalls send)
#   storage-denied what Azure Storage answers when its own firewall rejects the client
#   registry-denied what a container registry answers when its own firewall rejects the client
#   transfer-stall a download that sends 64 KiB of its body, then nothing
#   transfer-slow  a download that sends 8 KiB of its body every 100 ms
#   short-page     a whole 200 answer of 3000 bytes of HTML where a download was asked for
#   clock-ahead    a healthy answer whose Date is an hour ahead of this machine's clock
#   hello-close    read the TLS ClientHello, then close the connection without a byte back
# Usage: hostile.py MODE ADDR PORT [CERT KEY]
import email.utils, socket, ssl, sys, time
from common import serve_forever

mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = None
if len(sys.argv) > 5:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])

def serve(conn):
    try:
        if mode == "hello-close":
            # What a firewall that filters by name does, here without one: nothing to confirm it.
            # Drain the whole hello (closing with bytes unread would send a reset instead).
            conn.settimeout(0.2)
            try:
                while conn.recv(4096):
                    pass
            except socket.timeout:
                pass
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(30)
            conn.recv(4096)
            return
        if ctx:
            conn = ctx.wrap_socket(conn, server_side=True)
        conn.settimeout(30)
        if mode != "silent":
            conn.recv(4096)
        if mode == "silent":
            time.sleep(60)
        elif mode == "garbage":
            conn.sendall(bytes(range(256)) * 4)
            time.sleep(60)
        elif mode == "trickle":
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while True:
                conn.sendall(b"X")
                time.sleep(0.2)
        elif mode == "endless-header":
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Endless: ")
            while True:
                conn.sendall(b"a" * 4096)
        elif mode == "storage-denied":
            conn.sendall(b"HTTP/1.1 403 This request is not authorized to perform this operation.\r\n"
                         b"Server: Microsoft-HTTPAPI/2.0\r\nx-ms-error-code: AuthorizationFailure\r\n"
                         b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        elif mode == "registry-denied":
            body = (b'{"errors":[{"code":"DENIED","message":"client with IP \'10.77.0.1\' is not allowed '
                    b'access. Refer https://aka.ms/acr/firewall to grant access."}]}')
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nServer: AzureContainerRegistry\r\n"
                         b"Content-Type: application/json; charset=utf-8\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        elif mode == "transfer-stall":
            conn.sendall(b"HTTP/1.1 206 Partial Content\r\nContent-Type: application/gzip\r\n"
                         b"Content-Range: bytes 0-1048575/52428800\r\nContent-Length: 1048576\r\n\r\n"
                         + b"\x1f" * 65536)
            time.sleep(60)
        elif mode == "transfer-slow":
            conn.sendall(b"HTTP/1.1 206 Partial Content\r\nContent-Type: application/gzip\r\n"
                         b"Content-Range: bytes 0-1048575/52428800\r\nContent-Length: 1048576\r\n\r\n")
            for _ in range(128):
                conn.sendall(b"\x1f" * 8192)
                time.sleep(0.1)
        elif mode == "short-page":
            body = b"<html>" + b"x" * 2987 + b"</html>"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        elif mode == "clock-ahead":
            date = email.utils.formatdate(time.time() + 3600, usegmt=True).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nDate: " + date +
                         b"\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
        elif mode == "block-page":
            conn.sendall(b"HTTP/1.0 503 Service Unavailable\r\nServer: Contoso-Firewall\r\n"
                         b"Content-Type: text/html\r\n\r\n<html>Blocked by policy</html>")
    except (OSError, ssl.SSLError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass

serve_forever(addr, port, serve)
