//! The client against our server (`memcached-server`, three instances per test). The binary
//! is found next to this test in the target dir, or built with cargo if it is not there yet,
//! or taken from `MEMCACHED_SERVER_BIN`.

mod scenarios;
mod support;

use support::ServerProcess;

scenario_tests!(ServerProcess::ours());
