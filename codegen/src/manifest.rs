//! The `manifest.json` of a generated design folder, built with the types of `inq-design`
//! ([`inq_design::Manifest`]): the file lists, the folder tools run in, port widths, the input
//! stream, the taps with their signal names in `inq_top`, the per-engine summary, the
//! performance claimed by the plan and the whole `Design`.

use inq_design::{
    EngineDesc, InputDesc, Manifest, Performance, Ports, TapDesc, MANIFEST_FORMAT, MANIFEST_VERSION,
};
use inq_hdl::Design;
use sha2::{Digest, Sha256};

use crate::options::{GenOptions, GENERATOR};
use crate::parts::OutFile;
use crate::render::Rendered;

/// SHA-256 over, for each RTL then memory file, its path, a NUL byte, its contents and a NUL
/// byte ([`Manifest::design_hash`]).
fn design_hash<'a>(files: impl Iterator<Item = &'a OutFile>) -> String {
    let mut h = Sha256::new();
    for f in files {
        h.update(f.rel.as_bytes());
        h.update([0u8]);
        h.update(&f.contents);
        h.update([0u8]);
    }
    inq_model::format::hex(&h.finalize())
}

/// The manifest of `design` rendered as `r`.
pub(crate) fn build(design: &Design, opts: &GenOptions, r: &Rendered) -> Manifest {
    let taps = design
        .taps
        .iter()
        .zip(&r.taps)
        .map(|(t, w)| TapDesc {
            node: t.node,
            name: t.name.clone(),
            tdata: w.data.clone(),
            tvalid: w.valid.clone(),
            tready: w.ready.clone(),
            width: t.width,
            signed: t.signed,
            elements_per_image: t.elements_per_image,
            order: "hwc".into(),
            shape: t.shape.clone(),
        })
        .collect();
    let engines = design
        .engines
        .iter()
        .zip(&r.engines)
        .enumerate()
        .map(|(i, (e, s))| EngineDesc {
            index: i,
            node: e.node,
            name: e.name.clone(),
            op: e.op.clone(),
            module: s.module.clone(),
            instance: s.instance.clone(),
            pe: s.pe,
            simd: s.simd,
            in_width: e.io.in_width,
            out_width: e.io.out_width,
            acc_width: s.acc_width,
            cycles_per_image: e.cycles_per_image,
            resources: e.resources.clone(),
        })
        .collect();
    let interval = design.interval_cycles();
    Manifest {
        format: MANIFEST_FORMAT.into(),
        version: MANIFEST_VERSION,
        top: design.top.clone(),
        rtl_files: r.rtl.iter().map(|f| f.rel.clone()).collect(),
        hex_files: r.hex.iter().map(|f| f.rel.clone()).collect(),
        run_dir: "rtl".into(),
        model_hash: design.model_hash.clone(),
        design_hash: design_hash(r.rtl.iter().chain(&r.hex)),
        clock_mhz: opts.clock_mhz,
        ports: Ports {
            in_width: design.input.width,
            in_signed: design.input.signed,
            out_width: design.output.width,
            argmax_width: design.output.idx_width,
        },
        input: InputDesc {
            shape: design.input.shape,
            order: "hwc".into(),
            elements: design.input_elements(),
        },
        outputs: design.output.count,
        taps,
        engines,
        performance: Performance {
            interval_cycles: interval,
            latency_cycles: design.latency_estimate(),
            images_per_second: opts.clock_mhz * 1e6 / interval.max(1) as f64,
        },
        generator: GENERATOR.into(),
        design: design.clone(),
    }
}
