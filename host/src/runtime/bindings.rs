//! The host's one `bindgen!`: Rust types and traits for the `skill` world.
//! Capability modules implement the generated `Host` traits; nothing else
//! generates bindings.

#![allow(missing_docs, reason = "generated code; the WIT files carry the docs")]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "skill",
    imports: { default: async | trappable },
    exports: { default: async },
    trappable_error_type: {
        "securityclaw:skill/types.error" => crate::capabilities::CapabilityError,
    },
});
