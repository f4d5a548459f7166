//! The client against Debian's memcached 1.6.18 (three instances per test on free ports).

mod scenarios;
mod support;

use support::ServerProcess;

scenario_tests!(ServerProcess::memcached());
