//! The sliding-window geometry shared by the MVU and pooling engines, the line-buffer row
//! rule and the row-level schedule model that gives their cycles per image
//! (`docs/hardware.md` §4, §5, §9).

use serde::{Deserialize, Serialize};

/// Sliding-window geometry shared by MVU and pooling engines. A dense layer is a 1×1 window on
/// a `[N,1,1]` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geometry {
    /// Input channels `C`.
    pub c: usize,
    /// Input height `H`.
    pub h: usize,
    /// Input width `W`.
    pub w: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Padding `[top, left, bottom, right]`.
    pub pad: [usize; 4],
    /// Output channels.
    pub oc: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Line-buffer rows `NR` (`inq_hdl::line_buffer_rows`: at least `kh + sh`, and room for the
    /// next image's first rows while the last output row is computed; `docs/hardware.md` §4).
    pub nr: usize,
}

impl Geometry {
    /// Line-buffer elements `NR·W·C`.
    pub fn lb_elements(&self) -> usize {
        self.nr * self.w * self.c
    }
    /// Input elements per image.
    pub fn in_elements(&self) -> usize {
        self.c * self.h * self.w
    }
    /// Output elements per image.
    pub fn out_elements(&self) -> usize {
        self.oc * self.oh * self.ow
    }
}

/// Steady-state cycles per image of a sliding-window engine (`docs/hardware.md` §4/§5, §9)
/// whose compute side needs `row_cycles` back-to-back fire cycles per output row, when its
/// input is offered at one element per cycle and its output is never blocked.
///
/// A row-level event model of the state machine, exact at row granularity: input row `r` of
/// image `k` (global row `G = k·H + r`) is received in `W·C` consecutive cycles once
/// `in_ready` allows it, i.e. once `G < kc·H + min(NR + max(0, lo), 2H)` for the compute
/// side's image `kc` and output row (`lo = oy·sh − pt`); after an image's last element the
/// input side spends one cycle in `iy = H` (`img_wrap`). Output row `oy` starts when its
/// `need = min(H, lo + kh)` rows are complete and the previous row's last fire is done. The
/// result is the mean distance of the last fires of images 3..6 of a free-running engine
/// (the schedule is periodic by then). It covers the input bound `C·H·W + 1`, the compute
/// bound `OH·row_cycles`, and the waits between them (rows the line buffer cannot accept
/// ahead, the compute's lag behind the last input row).
pub fn engine_cycles(g: &Geometry, row_cycles: u64) -> u64 {
    engine_cycles_beats(g, row_cycles, 1)
}

/// [`engine_cycles`] with the input offered in beats of `in_beat` elements (`in_beat | C`,
/// `docs/hardware.md` §2.1): an input row takes `W·C/in_beat` cycles.
pub fn engine_cycles_beats(g: &Geometry, row_cycles: u64, in_beat: usize) -> u64 {
    const IMAGES: usize = 6;
    const MEASURED: usize = 3;
    let h = g.h.max(1) as i64;
    let oh = g.oh.max(1);
    let wc = (g.w * g.c / in_beat.max(1)).max(1) as u64;
    let nr = g.nr.max(1) as i64;
    let lo = |oy: usize| (oy * g.sh) as i64 - g.pad[0] as i64;
    let need = |oy: usize| h.min(lo(oy) + g.kh as i64).max(1);
    // in_ready bound on the global row while the compute side is at (kc, oy)
    let limit = |kc: usize, oy: usize| kc as i64 * h + (nr + lo(oy).max(0)).min(2 * h);
    // completion edge of every input row received so far
    let mut row_done: Vec<u64> = Vec::with_capacity(IMAGES * g.h);
    // compute side: (image, row) of the next output row, cycle its state became visible
    let (mut kc, mut oy, mut c_free) = (0usize, 0usize, 0u64);
    // threshold changes: (cycle from which it applies, limit)
    let mut limits: Vec<(u64, i64)> = vec![(0, limit(0, 0))];
    let mut in_free = 0u64; // first cycle the next input row may start
    let mut last_fire: Vec<u64> = Vec::with_capacity(IMAGES);
    let total_rows = IMAGES as i64 * h;
    while last_fire.len() < IMAGES {
        let next_g = row_done.len() as i64;
        let cur_limit = limits.last().map_or(0, |l| l.1);
        if next_g < total_rows && next_g < cur_limit {
            // the input row can be scheduled: it waits for the first limit above it
            let unblock = limits.iter().find(|l| l.1 > next_g).map_or(0, |l| l.0);
            let start = in_free.max(unblock);
            let done = start + wc - 1;
            row_done.push(done);
            in_free = if (next_g + 1) % h == 0 {
                done + 2
            } else {
                done + 1
            };
            continue;
        }
        // schedule the next output row (its rows are all scheduled: NR ≥ min(kh, H))
        let needed = kc as i64 * h + need(oy) - 1;
        let ready = row_done
            .get(needed.max(0) as usize)
            .map_or(u64::MAX, |&t| t + 1);
        if ready == u64::MAX {
            // cannot happen for a valid geometry; fall back to the closed form
            return ((g.in_elements() / in_beat.max(1)) as u64 + 1).max(oh as u64 * row_cycles);
        }
        let start = c_free.max(ready);
        let fire_end = start + row_cycles.max(1) - 1;
        c_free = fire_end + 1;
        if oy + 1 == oh {
            last_fire.push(fire_end);
            kc += 1;
            oy = 0;
        } else {
            oy += 1;
        }
        limits.push((c_free, limit(kc, oy)));
    }
    let n = last_fire.len();
    (last_fire[n - 1] - last_fire[n - 1 - MEASURED]).div_ceil(MEASURED as u64)
}

/// Line-buffer rows of a sliding-window engine (`docs/hardware.md` §4): `NR = max(kh + sh,
/// held + max(need0, min(sh, H)))`. `kh + sh` rows let the next output row's rows arrive while
/// the current one is computed; `held = H − max(0, lo_last)` rows (`lo_last = (OH−1)·sh − pt`)
/// stay in the buffer during the image's last output row, and the next image's first output
/// row needs `need0 = min(H, kh − pt)` rows, so with this many rows they (and at least one
/// stride of rows) can be received during the last output row, and an engine never waits at
/// the image boundary for rows its producer could have delivered earlier. A dense layer gets
/// 2 (a double buffer), a global pooling `2H`.
pub fn line_buffer_rows(h: usize, kh: usize, sh: usize, pt: usize, oh: usize) -> usize {
    let lo_last = ((oh.max(1) - 1) * sh) as i64 - pt as i64;
    let held = (h as i64 - lo_last.max(0)).max(0) as usize;
    let need0 = kh.saturating_sub(pt).clamp(1, h.max(1));
    (kh + sh).max(held + need0.max(sh.min(h)))
}
