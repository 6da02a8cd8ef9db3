# A transparent egress firewall in the manner of Azure Firewall's application rules. An nftables
# rule in the nat output hook redirects every locally made TCP connection to port 80 or 443 here,
# whatever its destination, except the firewall's own (firewall mark 1), for example:
#   table ip fw { chain out { type nat hook output priority -100; meta mark 0x1 return;
#     ip daddr 169.254.169.254 return; tcp dport { 80, 443 } redirect to :15001; } }
# Like the real one it completes every handshake itself, before it knows the name, then decides:
#   TLS   (first byte 0x16) on the ClientHello's SNI alone. Denied, or no SNI: not a byte back;
#         "fin" drains and closes cleanly, "rst" resets, "inspect" terminates TLS with a
#         certificate from an inspection CA the client trusts and answers 470 inside it.
#   HTTP  (anything else) on the Host header, without its port. Denied: the 470 answer below,
#         and the connection is held open until the client closes or 30 s pass.
#   Allowed names are passed on to the original destination (from SO_ORIGINAL_DST), from a
#   socket marked so that the redirect lets it through; the bytes decided on are only peeked at,
#   so they reach the destination unchanged. A client that sends nothing is held for 15 s.
# One line per decision on stdout: "deny tls NAME -> ADDR:PORT fin", "allow http NAME -> ...",
# "idle -> ADDR:PORT"; a missing name is written "-".
# Usage: egress_firewall.py --listen ADDR --port PORT --deny NAME[,NAME...]
#            --tls-deny fin|rst|inspect [--cert CHAIN_PEM --key KEY_PEM] [--mark 1]
import argparse, email.utils, errno, resource, select, socket, ssl, struct, sys, threading, time

SO_ORIGINAL_DST = 80
SO_MARK = getattr(socket, "SO_MARK", 36)

IDLE_TIMEOUT = 15     # a client that sends nothing
DECIDE_TIMEOUT = 10   # to receive the whole first TLS record, or the whole request head
HOLD_TIMEOUT = 30     # a denied connection held open after the 470 answer
CONNECT_TIMEOUT = 10  # to the original destination
HEAD_CAP = 16 * 1024
TLS_CAP = 5 + 16 * 1024  # a record header and the largest record a client may send

DENY_BODY = b"Action: Deny. Reason: No rule matched. Proceeding with default action."
assert len(DENY_BODY) == 70


def deny_answer():
    return (b"HTTP/1.1 470 status code 470\r\nDate: "
            + email.utils.formatdate(usegmt=True).encode()
            + b"\r\nContent-Length: 70\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            + DENY_BODY)


_log_lock = threading.Lock()


def log(line):
    with _log_lock:
        print(line, flush=True)


def original_dst(conn):
    """Where the client meant to connect, before the redirect: (address, port)."""
    try:
        raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        return socket.inet_ntoa(raw[4:8]), struct.unpack("!H", raw[2:4])[0]
    except OSError:
        # No connection-tracking entry: the connection cannot have been redirected.
        return conn.getsockname()[:2]


def peek_until(conn, complete, cap, timeout):
    """Look at what the client sent without consuming any of it, until complete(data), cap
    bytes, the client's end of stream, or the timeout. Returns (data, ended)."""
    deadline = time.monotonic() + timeout
    readable = select.poll()
    readable.register(conn, select.POLLIN | select.POLLRDHUP)
    hung_up = select.poll()  # reports the end of stream (and errors) only
    hung_up.register(conn, select.POLLRDHUP)
    data, ended = b"", False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        if not data:
            readable.poll(left * 1000)
        else:
            # Once bytes are waiting, POLLIN stays set however few there are: wait then for the
            # end of stream only, and look again every few milliseconds.
            ended = bool(hung_up.poll(min(left * 1000, 20)))
        try:
            data = conn.recv(cap, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        if not data:
            return data, True
        if complete(data) or len(data) >= cap:
            return data, False
        if ended:  # and everything it sent is in data
            return data, True


def tls_record_complete(data):
    return len(data) >= 5 and len(data) >= 5 + int.from_bytes(data[3:5], "big")


def parse_sni(data):
    """The host_name in the server_name extension of a ClientHello in the first TLS record,
    lower-cased; None if there is none or anything about the record does not parse."""
    try:
        return _parse_sni(data)
    except (IndexError, ValueError, UnicodeError):
        return None


def _parse_sni(data):
    if len(data) < 5 or data[0] != 0x16:
        return None
    record = data[5:5 + int.from_bytes(data[3:5], "big")]
    if len(record) < 4 or record[0] != 0x01:  # handshake type client_hello
        return None
    # The hello may continue in a following record: look only at the bytes at hand.
    hello = record[4:4 + int.from_bytes(record[1:4], "big")]
    pos = 2 + 32  # client_version, random

    def vector(pos, width):
        if pos + width > len(hello):
            raise ValueError("truncated")
        n = int.from_bytes(hello[pos:pos + width], "big")
        end = pos + width + n
        if end > len(hello):
            raise ValueError("truncated")
        return hello[pos + width:end], end

    _, pos = vector(pos, 1)  # session_id
    _, pos = vector(pos, 2)  # cipher_suites
    _, pos = vector(pos, 1)  # compression_methods
    if pos == len(hello):
        return None  # no extensions
    extensions, _ = vector(pos, 2)
    at = 0
    while at + 4 <= len(extensions):
        kind = int.from_bytes(extensions[at:at + 2], "big")
        size = int.from_bytes(extensions[at + 2:at + 4], "big")
        body = extensions[at + 4:at + 4 + size]
        if len(body) != size:
            return None
        at += 4 + size
        if kind != 0:  # server_name
            continue
        if len(body) < 2:
            return None
        names = body[2:2 + int.from_bytes(body[0:2], "big")]
        i = 0
        while i + 3 <= len(names):
            name_type = names[i]
            n = int.from_bytes(names[i + 1:i + 3], "big")
            name = names[i + 3:i + 3 + n]
            if len(name) != n:
                return None
            i += 3 + n
            if name_type == 0:  # host_name
                return clean_name(name)
        return None
    return None


def parse_host(head):
    """The Host header's name, without a port, lower-cased; None if there is none."""
    lines = head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
    for line in lines:
        field, colon, value = line.partition(b":")
        if colon and field.strip().lower() == b"host":
            value = value.strip()
            if value.startswith(b"["):  # an IPv6 literal
                end = value.find(b"]")
                value = value[:end + 1] if end > 0 else value
            else:
                name, colon, port = value.rpartition(b":")
                if colon and port.isdigit():
                    value = name
            return clean_name(value)
    return None


def clean_name(raw):
    try:
        name = raw.decode("ascii").strip().rstrip(".").lower()
    except UnicodeError:
        return None
    return name or None


def hold(conn, timeout):
    """Read and discard whatever the client sends until it closes or the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        conn.settimeout(left)
        try:
            if not conn.recv(65536):
                return
        except (socket.timeout, ssl.SSLError, OSError):
            return


def reset(conn):
    """Close so that the client sees a reset, not an end of stream."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    conn.close()


def deny_tls(conn, mode, ctx):
    if mode == "rst":
        reset(conn)
        return
    if mode == "fin":
        # Unread bytes at close would make the kernel send a reset: read the hello first.
        conn.setblocking(False)
        try:
            while conn.recv(65536):
                pass
        except (BlockingIOError, OSError):
            pass
        conn.setblocking(True)
        conn.shutdown(socket.SHUT_WR)
        hold(conn, 5)  # the client closes on the end of stream; then close without a reset
        conn.close()
        return
    conn.settimeout(DECIDE_TIMEOUT)
    tls = ctx.wrap_socket(conn, server_side=True)
    try:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < HEAD_CAP:
            chunk = tls.recv(4096)
            if not chunk:
                return
            head += chunk
        tls.sendall(deny_answer())
        hold(tls, HOLD_TIMEOUT)
    finally:
        tls.close()


def pump(src, dst):
    """Copy src to dst until src ends, then end dst's stream too. On an error, stop both ways."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                dst.shutdown(socket.SHUT_WR)
                return
            dst.sendall(data)
    except OSError:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def pass_on(conn, dst, mark, what):
    up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        up.setsockopt(socket.SOL_SOCKET, SO_MARK, mark)
        up.settimeout(CONNECT_TIMEOUT)
        up.connect(dst)
    except OSError as e:
        log(f"{what} upstream failed: {e}")
        up.close()
        reset(conn)
        return
    log(what)
    up.settimeout(None)
    conn.settimeout(None)
    back = threading.Thread(target=pump, args=(up, conn), daemon=True)
    back.start()
    pump(conn, up)
    back.join()
    up.close()
    conn.close()


def handle(conn, args, deny, ctx):
    try:
        dst = original_dst(conn)
        where = f"{dst[0]}:{dst[1]}"
        if dst == conn.getsockname()[:2]:  # made to this port itself: passing on would loop
            log(f"direct -> {where} (not redirected, closed)")
            return
        first, ended = peek_until(conn, lambda d: True, 1, IDLE_TIMEOUT)
        if not first:
            log(f"{'closed' if ended else 'idle'} -> {where}")
            return
        if first[0] == 0x16:
            data, _ = peek_until(conn, tls_record_complete, TLS_CAP, DECIDE_TIMEOUT)
            kind, name = "tls", parse_sni(data)
        else:
            data, _ = peek_until(conn, lambda d: b"\r\n\r\n" in d, HEAD_CAP, DECIDE_TIMEOUT)
            kind, name = "http", parse_host(data)
        what = f"{kind} {name or '-'} -> {where}"
        if name is not None and name not in deny:
            pass_on(conn, dst, args.mark, "allow " + what)
            return
        if kind == "tls":
            log(f"deny {what} {args.tls_deny}")
            deny_tls(conn, args.tls_deny, ctx)
        else:
            log(f"deny {what} 470")
            conn.settimeout(DECIDE_TIMEOUT)
            conn.sendall(deny_answer())
            hold(conn, HOLD_TIMEOUT)
    except (OSError, ssl.SSLError, ValueError) as e:
        log(f"error: {e!r}")
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    p = argparse.ArgumentParser(description="A transparent egress firewall for port 80 and 443.")
    p.add_argument("--listen", required=True, help="address to listen on, e.g. 127.0.0.1")
    p.add_argument("--port", required=True, type=int, help="port the redirect sends to")
    p.add_argument("--deny", required=True,
                   help="names to deny, comma-separated; empty allows every name")
    p.add_argument("--tls-deny", required=True, choices=["fin", "rst", "inspect"],
                   help="how a denied TLS connection ends")
    p.add_argument("--cert", help="inspection certificate chain (PEM), for --tls-deny inspect")
    p.add_argument("--key", help="its private key (PEM)")
    p.add_argument("--mark", type=int, default=1, help="firewall mark of upstream connections")
    args = p.parse_args()
    deny = {n.strip().rstrip(".").lower() for n in args.deny.split(",") if n.strip()}
    ctx = None
    if args.tls_deny == "inspect":
        if not (args.cert and args.key):
            p.error("--tls-deny inspect needs --cert and --key")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        ctx.set_alpn_protocols(["http/1.1"])

    # Many connections at once, each with a thread or two, and two descriptors when passed on.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError):
        pass
    threading.stack_size(512 * 1024)

    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((args.listen, args.port))
    s.listen(1024)
    log(f"listening on {args.listen}:{args.port}, deny {sorted(deny) or 'nothing'}, "
        f"tls deny by {args.tls_deny}")
    while True:
        try:
            conn, _ = s.accept()
        except OSError as e:
            # Out of descriptors or memory: wait for connections to end, never stop serving.
            if e.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM,
                               errno.ECONNABORTED):
                log(f"accept: {e}")
            time.sleep(0.05)
            continue
        try:
            threading.Thread(target=handle, args=(conn, args, deny, ctx), daemon=True).start()
        except RuntimeError:  # no thread to be had
            reset(conn)


if __name__ == "__main__":
    main()
