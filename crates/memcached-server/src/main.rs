//! The `memcached-server` binary: parse memcached's command line, then run
//! (see [`memcached_server::startup`]).

use memcached_server::settings::{parse_args, Command};

fn main() {
    let code = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(settings)) => memcached_server::startup::run(&settings),
        Ok(Command::Help(text) | Command::Version(text) | Command::License(text)) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
