//! The host's one `bindgen!`: Rust types and traits for the `skill` world
//! of `wit/`. Capability modules implement the generated `Host` traits;
//! nothing else generates bindings.

#![allow(missing_docs, reason = "generated code; the WIT files carry the docs")]

use std::sync::OnceLock;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "skill",
    imports: { default: async | trappable },
    exports: { default: async },
    trappable_error_type: {
        "securityclaw:skill/types.capability-error" => crate::error::CallError,
    },
});

/// The WIT the bindings above were generated from; its `package` line is
/// the one place the version is written.
const WORLD_WIT: &str = include_str!("../../../wit/world.wit");

/// The WIT package version this host speaks (`0.2.0`), as `wit/world.wit`
/// declares it.
pub fn wit_version() -> &'static str {
    static VERSION: OnceLock<&'static str> = OnceLock::new();
    VERSION.get_or_init(|| {
        WORLD_WIT
            .lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix("package securityclaw:skill@")?
                    .strip_suffix(';')
            })
            .unwrap_or("unknown")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_is_read_from_the_wit() {
        let version = super::wit_version();
        assert_eq!(version.split('.').count(), 3, "{version}");
        assert!(super::WORLD_WIT.contains(&format!("securityclaw:skill@{version};")));
    }
}
