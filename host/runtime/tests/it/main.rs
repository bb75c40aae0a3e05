//! Integration tests of the runtime: real components built from source
//! (`just skills fixtures`), the real wasmtime host, real SQLite and the
//! embedded store; each capability exercised from inside a component.

mod capabilities;
mod hostile;
mod registry;
mod reload;
