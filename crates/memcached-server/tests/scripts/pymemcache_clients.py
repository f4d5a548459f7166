"""pymemcache against our servers: /usr/bin/python3 pymemcache_clients.py HOST PORT1 PORT2

Checks pymemcache's Client (text protocol, one server) on PORT1, then HashClient (client-side
rendezvous hashing over both servers): every key set through the HashClient is found on
exactly the server the HashClient's own hasher picks, asking each server directly, and both
servers get keys. Prints "ok <check>" lines; exits 1 with "FAIL <check>: <details>".
Used by crates/memcached-server/tests/real_clients.rs.
"""

import os
import sys

from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient


def check(name, cond, details=""):
    if not cond:
        print(f"FAIL {name}: {details}", flush=True)
        sys.exit(1)
    print(f"ok {name}", flush=True)


def main():
    if len(sys.argv) != 4:
        print("usage: pymemcache_clients.py HOST PORT1 PORT2", file=sys.stderr)
        sys.exit(2)
    host, port1, port2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    prefix = f"py{os.getpid()}_"

    c = Client((host, port1), connect_timeout=2, timeout=5)
    check("flush_all", c.flush_all(noreply=False))
    check("version", c.version() == b"1.6.18", repr(c.version()))
    check("set", c.set(prefix + "a", b"alpha", noreply=False))
    check("get", c.get(prefix + "a") == b"alpha", repr(c.get(prefix + "a")))
    check("get miss", c.get(prefix + "missing") is None)
    check("set noreply", c.set(prefix + "q", b"quiet") is True)
    check("get after noreply", c.get(prefix + "q") == b"quiet")
    check("add existing", c.add(prefix + "a", b"x", noreply=False) is False)
    check("add new", c.add(prefix + "b", b"beta", noreply=False) is True)
    check("replace", c.replace(prefix + "b", b"BETA", noreply=False) is True)
    check("replace missing", c.replace(prefix + "zz", b"x", noreply=False) is False)
    check("append", c.append(prefix + "b", b"!", noreply=False) is True)
    check("prepend", c.prepend(prefix + "b", b"<", noreply=False) is True)
    check("append result", c.get(prefix + "b") == b"<BETA!", repr(c.get(prefix + "b")))
    value, cas = c.gets(prefix + "a")
    check("gets", value == b"alpha" and cas is not None and int(cas) > 0, repr((value, cas)))
    check("cas ok", c.cas(prefix + "a", b"changed", cas, noreply=False) is True)
    check("cas stale", c.cas(prefix + "a", b"again", cas, noreply=False) is False)
    check("cas missing", c.cas(prefix + "none", b"x", cas, noreply=False) is None)
    check("set counter", c.set(prefix + "n", b"10", noreply=False))
    check("incr", c.incr(prefix + "n", 5) == 15)
    check("decr", c.decr(prefix + "n", 100) == 0)
    check("incr missing", c.incr(prefix + "nn", 1) is None)
    check("incr non-numeric raises", raises(lambda: c.incr(prefix + "a", 1)))
    many = {f"{prefix}m{i}": f"v{i}".encode() for i in range(100)}
    check("set_many", c.set_many(many, noreply=False) == [])
    got = c.get_many(list(many) + [prefix + "absent"])
    check("get_many", got == many, f"{len(got)} of {len(many)}")
    gets_many = c.gets_many([prefix + "m1", prefix + "m2"])
    check("gets_many", all(v[1] is not None for v in gets_many.values()) and len(gets_many) == 2)
    check("touch", c.touch(prefix + "a", 1000, noreply=False) is True)
    check("touch missing", c.touch(prefix + "nokey", 1000, noreply=False) is False)
    check("delete", c.delete(prefix + "a", noreply=False) is True)
    check("delete missing", c.delete(prefix + "a", noreply=False) is False)
    check("delete_many", c.delete_many([prefix + "m1", prefix + "m2"], noreply=False) is True)
    check("deleted many", c.get(prefix + "m1") is None and c.get(prefix + "m3") == b"v3")
    big = b"x" * (512 * 1024)
    check("set big", c.set(prefix + "big", big, noreply=False))
    check("get big", c.get(prefix + "big") == big)
    stats = c.stats()
    check("stats", stats.get(b"curr_items", 0) > 0 and b"pid" in stats, repr(list(stats)[:5]))
    c.close()

    # HashClient over two servers
    servers = [(host, port1), (host, port2)]
    direct = {s: Client(s, connect_timeout=2, timeout=5) for s in servers}
    for d in direct.values():
        d.flush_all(noreply=False)
    hc = HashClient(servers, connect_timeout=2, timeout=5, use_pooling=False)
    keys = [f"{prefix}h{i}" for i in range(200)]
    for k in keys:
        check_quiet = hc.set(k, k.encode(), noreply=False)
        if not check_quiet:
            check("hash set " + k, False)
    check("hash set 200 keys", True)
    got = hc.get_many(keys)
    check("hash get_many", got == {k: k.encode() for k in keys}, f"{len(got)} of {len(keys)}")
    per_server = {s: 0 for s in servers}
    for k in keys:
        node = hc.hasher.get_node(k)
        owner = (host, int(node.split(":")[1])) if isinstance(node, str) else tuple(node)
        others = [s for s in servers if s != owner]
        on_owner = direct[owner].get(k)
        on_others = [direct[s].get(k) for s in others]
        if on_owner != k.encode() or any(v is not None for v in on_others):
            check("hash placement " + k, False, f"owner {owner}: {on_owner!r}, others {on_others!r}")
        per_server[owner] += 1
    check("hash placement of 200 keys", True)
    check("both servers used", all(n > 20 for n in per_server.values()), repr(per_server))
    check("hash incr", hc.set(prefix + "hn", b"1", noreply=False) and hc.incr(prefix + "hn", 41) == 42)
    check("hash delete", hc.delete(keys[0], noreply=False) and hc.get(keys[0]) is None)
    print("all ok", flush=True)


def raises(fn):
    try:
        fn()
    except Exception:  # pymemcache raises MemcacheClientError for CLIENT_ERROR lines
        return True
    return False


if __name__ == "__main__":
    main()
