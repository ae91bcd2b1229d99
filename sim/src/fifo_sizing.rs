//! Minimizing the skip FIFOs of a design by simulation (`docs/hardware.md` §2.2).
//!
//! The planner sizes every fork output (`Stream.skip`) by the *skip rule*, an upper bound on
//! what the other branches of a residual block can absorb. [`minimize_skip_fifos`] simulates
//! the design (decoupled, `src/decoupled.rs`) with those depths to get the reference
//! steady-state interval (the report's definition, [`timing`]), then shrinks each
//! skip stream in turn to the smallest depth in `[2, current]` with which every image
//! completes and the interval stays within the reference (a binary search; a deadlock ends at
//! once through the decoupled run's freeze detection, or at a tight idle limit).
//!
//! Control flow is data-independent, so the images are zeros. The top layer of the crate:
//! depends on the decoupled run, the machine, the report and `simulation.rs`; nothing depends on
//! it but the crate root's re-exports. Not here: the rule itself
//! (`inq_hdl::graph::size_skip_fifos`) and writing the design (`inq gen`).

use std::time::Instant;

use inq_hdl::{Design, Endpoint};
use serde::{Deserialize, Serialize};

use crate::decoupled::{self, End, RunSpec};
use crate::error::SimError;
use crate::machine::Machine;
use crate::report::timing;
use crate::simulation::{simulate, SimOptions};

/// One skip stream's depth before and after [`minimize_skip_fifos`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizedStream {
    /// Stream index.
    pub stream: usize,
    /// The fork writing it (engine index) and its output port.
    pub fork: usize,
    /// Output port of the fork.
    pub port: usize,
    /// Depth before (the skip rule's).
    pub old_depth: usize,
    /// The smallest depth that keeps the interval.
    pub new_depth: usize,
    /// Simulations of the binary search.
    pub simulations: usize,
}

/// What [`minimize_skip_fifos`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizingReport {
    /// Images per simulation.
    pub images: usize,
    /// The reference steady-state interval (the design as given).
    pub interval_cycles: f64,
    /// The interval with the new depths (at most the reference).
    pub new_interval_cycles: f64,
    /// Every skip stream, in stream order.
    pub streams: Vec<SizedStream>,
    /// Simulations in all (the reference included).
    pub simulations: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// What one sizing simulation found.
struct Probe {
    interval: f64,
    max_gap: u64,
    total: u64,
    /// FIFO peak per stream.
    peaks: Vec<usize>,
}

/// Simulates `d` on `values` (zeros) decoupled; `None` if it does not complete (a deadlock,
/// the idle limit or the cycle limit).
fn probe(
    d: &Design,
    values: &[i64],
    images: usize,
    idle_limit: u64,
    max_cycles: u64,
) -> Result<Option<Probe>, SimError> {
    let m = Machine::new(d)?;
    let n = d.output.count;
    let spec = RunSpec {
        values,
        elements_per_image: d.input_elements(),
        outputs_per_image: n,
        images,
        seed: 1,
        threshold: 0,
        max_cycles,
        idle_limit,
        taps: &[],
        sums: &[],
    };
    Ok(match decoupled::run(m, &spec) {
        End::Done(o) => timing(&o.records, images, n)
            .interval
            .map(|interval| Probe {
                interval,
                max_gap: o.max_gap,
                total: o.records.total_cycles,
                peaks: o.peaks,
            }),
        End::Stuck { .. } | End::Lockstep => None,
    })
}

/// Shrinks every skip stream of `design` (`Stream.skip`) to the smallest FIFO depth with
/// which `images` images (at least 2) all complete and the simulated steady-state interval is
/// at most the interval of `design` as given. Returns the sized design and what changed.
///
/// Errors: an invalid design ([`SimError::Design`]), fewer than 2 images
/// ([`SimError::Options`]), or a design that does not complete as given
/// ([`SimError::Timeout`]).
pub fn minimize_skip_fifos(
    design: &Design,
    images: usize,
) -> Result<(Design, SizingReport), SimError> {
    let t0 = Instant::now();
    if images < 2 {
        return Err(SimError::Options(format!(
            "fifo sizing needs at least 2 images for an interval, not {images}"
        )));
    }
    Machine::new(design)?; // validates
    let values = vec![0i64; images.saturating_mul(design.input_elements())];
    let base = match probe(design, &values, images, 5_000_000, u64::MAX / 8)? {
        Some(p) => p,
        None => {
            // report how it fails, as a simulation would
            let zeros = vec![vec![0i64; design.input_elements()]; images];
            simulate(design, &zeros, &SimOptions::default())?;
            return Err(SimError::Options(
                "the design does not reach a steady state with its FIFO depths".into(),
            ));
        }
    };
    let reference = base.interval;
    // A stuck pipeline is detected at once; this only bounds a run that drags on.
    let idle_limit = (4 * base.max_gap).max(base.interval as u64) + 1000;
    let max_cycles = base.total.saturating_mul(4).saturating_add(idle_limit);
    let mut simulations = 1usize;
    let mut d = design.clone();
    let mut streams = Vec::new();
    // The probe of the current depths. A FIFO whose count never reached its depth in a run
    // behaves the same with any depth above its peak: `peak + 1` needs no simulation.
    let mut current = base;
    for s in 0..d.streams.len() {
        if !d.streams[s].skip {
            continue;
        }
        let (fork, port) = match d.streams[s].from {
            Endpoint::Engine { engine, port } => (engine, port),
            _ => (usize::MAX, 0),
        };
        let old = d.streams[s].depth;
        let (mut lo, mut hi) = (2usize, old.min(current.peaks[s] + 1).max(2));
        let mut sims = 0usize;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            d.streams[s].depth = mid;
            sims += 1;
            match probe(&d, &values, images, idle_limit, max_cycles)? {
                Some(p) if p.interval <= reference + 1e-9 => {
                    hi = mid.min(p.peaks[s] + 1).max(lo);
                    current = p;
                }
                _ => lo = mid + 1,
            }
        }
        d.streams[s].depth = hi;
        simulations += sims;
        streams.push(SizedStream {
            stream: s,
            fork,
            port,
            old_depth: old,
            new_depth: hi,
            simulations: sims,
        });
    }
    let interval = current.interval;
    Ok((
        d,
        SizingReport {
            images,
            interval_cycles: reference,
            new_interval_cycles: interval,
            streams,
            simulations,
            seconds: t0.elapsed().as_secs_f64(),
        },
    ))
}
