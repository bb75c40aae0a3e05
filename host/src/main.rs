//! The `sc-host` binary: parses the command line and hands over to the library.

fn main() -> std::process::ExitCode {
    sc_host::cli::main()
}
