//! Link settings for the `sc-host` binary: packed relative relocations
//! where the toolchain and C library support them.
//!
//! A position-independent binary of this size carries ~110,000 relative
//! relocations (2.7 MB of `.rela.dyn`) that the loader reads at every
//! start; packed (`DT_RELR`, glibc 2.36+, binutils 2.38+ or lld) they are
//! 40 KB, which saves ~2 MB of resident memory and some start time while
//! keeping the binary position-independent (ASLR). Older toolchains get the
//! default: the probe links and runs a tiny program with the flag first.

use std::path::PathBuf;
use std::process::Command;

const FLAG: &str = "-Wl,-z,pack-relative-relocs";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    // Only a native Linux/glibc build can be probed by running the result.
    if target != host || !target.ends_with("-linux-gnu") {
        return;
    }
    if links_and_runs() {
        println!("cargo:rustc-link-arg-bins={FLAG}");
    }
}

/// Links a small C program with the flag and runs it: both the linker and
/// the C library (the `GLIBC_ABI_DT_RELR` version) must accept it.
fn links_and_runs() -> bool {
    let Some(out) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return false;
    };
    let source = out.join("relr_probe.c");
    let binary = out.join("relr_probe");
    // A pointer in writable data needs a relative relocation in a PIE.
    let program = "static int x; int *p = &x; int main(void) { return p == 0; }\n";
    if std::fs::write(&source, program).is_err() {
        return false;
    }
    let linked = Command::new("cc")
        .args(["-pie", "-fPIE", FLAG, "-o"])
        .arg(&binary)
        .arg(&source)
        .output()
        .is_ok_and(|o| o.status.success());
    linked && Command::new(&binary).status().is_ok_and(|s| s.success())
}
