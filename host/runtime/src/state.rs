//! What a store holds for one run: the WASI context, the resource table, the
//! memory limiter and every capability's per-call state.

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::capabilities::{CapabilityStates, CapabilityView};
use crate::error::RunLimitExceeded;

/// Caps a run's linear memory and ends the run with a clear reason when a
/// skill tries to grow past it (rather than letting the guest's allocator
/// abort with a bare `unreachable`).
#[derive(Debug)]
pub struct MemoryCap {
    max_bytes: usize,
    /// Bytes of linear memory across every memory of the instance.
    used_bytes: usize,
    /// Set when the run hit the cap.
    pub exceeded: bool,
}

impl MemoryCap {
    /// A cap of `megabytes` MiB.
    pub fn new(megabytes: u64) -> Self {
        Self {
            max_bytes: usize::try_from(megabytes.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
            used_bytes: 0,
            exceeded: false,
        }
    }

    fn megabytes(&self) -> u64 {
        (self.max_bytes >> 20) as u64
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The cap is for the run, not per memory: a component with several
        // memories shares one budget.
        let total = self
            .used_bytes
            .saturating_add(desired.saturating_sub(current));
        if total > self.max_bytes {
            self.exceeded = true;
            return Err(wasmtime::Error::new(RunLimitExceeded::Memory(
                self.megabytes(),
            )));
        }
        self.used_bytes = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }

    fn instances(&self) -> usize {
        100
    }

    fn tables(&self) -> usize {
        100
    }

    fn memories(&self) -> usize {
        10
    }
}

/// The data of a run's `Store`.
pub struct StoreState {
    /// The deny-all WASI context.
    pub wasi: WasiCtx,
    /// WASI's resources.
    pub table: ResourceTable,
    /// The memory cap.
    pub memory: MemoryCap,
    /// Capability states.
    pub caps: CapabilityStates,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl CapabilityView for StoreState {
    fn capabilities(&mut self) -> &mut CapabilityStates {
        &mut self.caps
    }
}
