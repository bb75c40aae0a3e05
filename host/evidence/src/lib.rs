//! The evidence check SecurityClaw puts between a model and an analyst:
//! every IP, port, domain, user, hash and ATT&CK id a model's text claims
//! must appear in what was gathered, and every ATT&CK id must be a real,
//! current one ([`attack`], MITRE ATT&CK enterprise, derived from MITRE's
//! STIX bundle). `threat_analyst` runs it inside its component; the chat
//! supervisor runs it in the host on its answers.

pub mod attack;
mod check;
mod claims;

pub use check::{Facts, Reason, Unsupported, check};
pub use claims::{Claim, ClaimKind, Span, claims, spans};
