# Answers every DNS query with one response code (2 = SERVFAIL): the broken upstream
# a custom DNS server may forward to. Usage: dns_rcode.py ADDR PORT RCODE
import socket, struct, sys
addr, port, rcode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))
while True:
    q, src = s.recvfrom(4096)
    if len(q) < 12: continue
    flags = struct.unpack("!H", q[2:4])[0]
    flags = 0x8000 | (flags & 0x7900) | 0x0080 | rcode
    s.sendto(q[:2] + struct.pack("!HHHHH", flags, struct.unpack("!H", q[4:6])[0], 0, 0, 0) + q[12:], src)
