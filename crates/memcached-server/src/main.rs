//! The `memcached-server` binary.

fn main() {
    eprintln!("memcached-server: the server is not built yet (see issue 'server'); nothing to run");
    std::process::exit(2);
}
