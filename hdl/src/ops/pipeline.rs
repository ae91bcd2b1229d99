//! Pipeline registers in a hard-wired engine's datapath (`docs/hardware.md` §4.1,
//! "Pipelined adder trees"): the adder level of every value of a [`ConstDatapath`], the stage
//! each adder is computed in for a given number of registers, and what those registers cost.
//!
//! Owns the staging rule and the plan's default depth ([`ADDER_LEVELS_PER_STAGE`],
//! [`registers_for`]; [`crate::stage_adder_trees`] applies another). The plan stores only the register count (`Mvu::pipeline`); the code
//! generator renders the stages from [`Staging`], the resource model counts
//! [`register_bits`], the timing estimate takes [`Staging::levels_per_stage`]. Not here: the
//! datapath itself (`sharing.rs`, `adder_tree.rs`) and the cycle behaviour of the registers
//! (the valid bits and the stall rule live in the template and the simulator, §4.1).
//!
//! **Levels.** A window element has level 0; a shared sub-sum or a tree adder has one level
//! more than its deeper operand (a term is wiring: the level of its source); a PE's final
//! negation one more than its root. The datapath's depth `M` is the deepest PE result.
//! **Stages.** With `D` registers the datapath is cut into `D + 1` stages of
//! `L = ⌈M / (D + 1)⌉` adder levels: an adder of level `l ≥ 1` is computed in stage
//! `⌊(l − 1) / L⌋`. A value consumed `k` stages after the one it is computed in (a window
//! element counts as computed in stage 0) passes `k` registers; every PE result is carried to
//! the end of stage `D`, where `obuf` loads it.

use super::adder_tree::{AdderTree, TreeOperand};
use super::sharing::ConstDatapath;

/// The default depth of a pipeline stage, in adder levels: the plan cuts a hard-wired
/// engine's datapath after every two levels of adders. The deepest stage is the first: the
/// window read, slot select and padding (4–6 LUT levels on 7-series) and then its adders,
/// one LUT level each with its carry chain; two keep a small engine within the 7-series
/// 200 MHz target of [`crate::timing::XILINX_200MHZ_LEVELS`] (6 levels). Measured after
/// `synth_xilinx` (`docs/performance.md`, "Pipelined adder trees"): hard-wired conv1, fc2 and
/// conv2 of the default LeNet at 6, 4 and 8 levels with two adder levels per stage, 11, 16
/// and (conv2, three per stage) 12 with fewer registers.
pub const ADDER_LEVELS_PER_STAGE: u32 = 2;

/// The most pipeline registers an engine may have (a bound for the checks of a design read
/// from a file; the plan's default never comes near it).
pub const MAX_PIPELINE: u32 = 64;

/// The adder level of every value of a datapath.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Levels {
    /// Per shared sub-sum.
    pub shared: Vec<u32>,
    /// Per PE, per tree adder.
    pub nodes: Vec<Vec<u32>>,
    /// Per PE, its result (after the final negation; 0 for a PE without terms).
    pub result: Vec<u32>,
}

impl Levels {
    /// The levels of `dp`'s values.
    pub fn of(dp: &ConstDatapath) -> Self {
        let lanes = dp.lanes;
        let mut shared: Vec<u32> = Vec::with_capacity(dp.shared.len());
        for n in &dp.shared {
            let src = |s: usize| if s < lanes { 0 } else { shared[s - lanes] };
            let l = 1 + src(n.a).max(src(n.b));
            shared.push(l);
        }
        let source = |s: usize| if s < lanes { 0 } else { shared[s - lanes] };
        let mut nodes = Vec::with_capacity(dp.trees.len());
        let mut result = Vec::with_capacity(dp.trees.len());
        for tree in &dp.trees {
            let mut lv: Vec<u32> = Vec::with_capacity(tree.nodes.len());
            for n in &tree.nodes {
                let l = 1 + operand_level(tree, &lv, &source, n.a)
                    .max(operand_level(tree, &lv, &source, n.b));
                lv.push(l);
            }
            let r = match tree.root {
                None => 0,
                Some(op) => operand_level(tree, &lv, &source, op) + u32::from(tree.root_negated),
            };
            nodes.push(lv);
            result.push(r);
        }
        Levels {
            shared,
            nodes,
            result,
        }
    }

    /// The datapath's depth `M`: the deepest result, in adder levels.
    pub fn depth(&self) -> u32 {
        self.result.iter().copied().max().unwrap_or(0)
    }
}

/// The level of one operand of a tree whose earlier adders have levels `lv`.
pub fn operand_level(
    tree: &AdderTree,
    lv: &[u32],
    source: &dyn Fn(usize) -> u32,
    op: TreeOperand,
) -> u32 {
    match op {
        TreeOperand::Term(i) => source(tree.terms[i].lane),
        TreeOperand::Node(j) => lv[j],
    }
}

/// The stage of every value for `registers` pipeline registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staging {
    /// Pipeline registers `D` (stages `D + 1`).
    pub registers: u32,
    /// Adder levels per stage `L = ⌈M / (D + 1)⌉` (at least 1).
    pub levels_per_stage: u32,
    /// The levels the stages derive from.
    pub levels: Levels,
}

impl Staging {
    /// The stages of `dp` with `registers` pipeline registers.
    pub fn new(dp: &ConstDatapath, registers: u32) -> Self {
        let levels = Levels::of(dp);
        let depth = levels.depth();
        Staging {
            registers,
            levels_per_stage: depth.div_ceil(registers + 1).max(1),
            levels,
        }
    }
    /// The stage a value of adder level `level` is computed in (0 for a window element).
    pub fn stage(&self, level: u32) -> u32 {
        if level == 0 {
            0
        } else {
            (level - 1) / self.levels_per_stage
        }
    }
    /// The stage of a source (window element or shared sub-sum `s − lanes`).
    pub fn source_stage(&self, dp: &ConstDatapath, s: usize) -> u32 {
        if s < dp.lanes {
            0
        } else {
            self.stage(self.levels.shared[s - dp.lanes])
        }
    }
}

/// The pipeline registers for a datapath of depth `depth` adder levels with stages of at most
/// `levels_per_stage` adder levels: `⌈M / L⌉ − 1` (0 for a datapath of at most `L` levels,
/// and for `L = 0`, which asks for none), at most [`MAX_PIPELINE`].
pub fn registers_for(depth: u32, levels_per_stage: u32) -> u32 {
    if levels_per_stage == 0 {
        0
    } else {
        depth
            .div_ceil(levels_per_stage)
            .saturating_sub(1)
            .min(MAX_PIPELINE)
    }
}

/// A value of a datapath that pipeline registers carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// Window element `j` (`in_width` bits).
    Window(usize),
    /// Shared sub-sum `i`.
    Shared(usize),
    /// Adder `node` of the tree of PE `pe`.
    Node { pe: usize, node: usize },
    /// The result of PE `pe` (`acc_width` bits), carried to the end of the last stage.
    Result(usize),
}

/// A value read `registers` stages after the one it is computed in: it passes that many
/// registers of `width` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carry {
    pub value: Value,
    pub width: u32,
    pub registers: u32,
}

impl Staging {
    /// Every value that crosses a stage boundary, with the most boundaries any of its readers
    /// needs (window elements first, then shared sub-sums, then per PE its adders and its
    /// result): the registers the code generator declares and the resource model counts.
    /// A reader in stage `s` of a value computed in stage `s'` reads it through `s − s'`
    /// registers; the root of a tree is read in its result's stage.
    pub fn carries(&self, dp: &ConstDatapath, in_width: u32) -> Vec<Carry> {
        if self.registers == 0 {
            return Vec::new();
        }
        let lanes = dp.lanes;
        // the furthest stage each source (window element or shared sub-sum) is read in
        let mut last_use: Vec<Option<u32>> = vec![None; lanes + dp.shared.len()];
        let mut note = |s: usize, stage: u32| {
            let u = &mut last_use[s];
            *u = Some(u.map_or(stage, |x| x.max(stage)));
        };
        for (i, n) in dp.shared.iter().enumerate() {
            let at = self.stage(self.levels.shared[i]);
            note(n.a, at);
            note(n.b, at);
        }
        let mut trees = Vec::new();
        for (p, tree) in dp.trees.iter().enumerate() {
            let lv = &self.levels.nodes[p];
            let mut node_last: Vec<u32> = lv.iter().map(|&l| self.stage(l)).collect();
            for (j, n) in tree.nodes.iter().enumerate() {
                let at = self.stage(lv[j]);
                for op in [n.a, n.b] {
                    match op {
                        TreeOperand::Term(i) => note(tree.terms[i].lane, at),
                        TreeOperand::Node(k) => node_last[k] = node_last[k].max(at),
                    }
                }
            }
            let result_stage = self.stage(self.levels.result[p]);
            match tree.root {
                Some(TreeOperand::Term(i)) => note(tree.terms[i].lane, result_stage),
                Some(TreeOperand::Node(k)) => node_last[k] = node_last[k].max(result_stage),
                None => {}
            }
            for (j, n) in tree.nodes.iter().enumerate() {
                trees.push(Carry {
                    value: Value::Node { pe: p, node: j },
                    width: n.width,
                    registers: node_last[j] - self.stage(lv[j]),
                });
            }
            if tree.root.is_some() {
                trees.push(Carry {
                    value: Value::Result(p),
                    width: dp.acc_width,
                    registers: self.registers - result_stage,
                });
            }
        }
        let sources = last_use.iter().enumerate().filter_map(|(s, u)| {
            let u = (*u)?;
            Some(if s < lanes {
                Carry {
                    value: Value::Window(s),
                    width: in_width,
                    registers: u,
                }
            } else {
                let i = s - lanes;
                Carry {
                    value: Value::Shared(i),
                    width: dp.shared[i].width,
                    registers: u - self.stage(self.levels.shared[i]),
                }
            })
        });
        sources.chain(trees).filter(|c| c.registers > 0).collect()
    }
}

/// Flip-flop bits of the pipeline registers of `dp` staged by `st`, for `in_width`-bit window
/// elements: every value carried across `k` stage boundaries ([`Staging::carries`]) costs `k`
/// registers of its width, plus one valid bit per register stage.
pub fn register_bits(dp: &ConstDatapath, st: &Staging, in_width: u32) -> u64 {
    st.carries(dp, in_width)
        .iter()
        .map(|c| u64::from(c.registers) * u64::from(c.width))
        .sum::<u64>()
        + u64::from(st.registers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::adder_tree::ConstTerm;
    use crate::ops::sharing::share;

    fn term(lane: usize, shift: u32, negative: bool) -> ConstTerm {
        ConstTerm {
            lane,
            shift,
            negative,
        }
    }

    #[test]
    fn levels_follow_the_tree_and_the_shared_sums() {
        // one PE of 8 terms: a balanced tree of depth 3; no sharing with one PE
        let dp = share(
            vec![(0..8).map(|l| term(l, 0, false)).collect()],
            8,
            4,
            16,
            true,
        );
        let lv = Levels::of(&dp);
        assert_eq!(lv.depth(), 3);
        assert_eq!(registers_for(lv.depth(), 4), 0);
        assert_eq!(registers_for(lv.depth(), 2), 1);
        assert_eq!(registers_for(lv.depth(), 1), 2);
        assert_eq!(registers_for(9, 4), 2);
        assert_eq!(registers_for(9, 0), 0);
        // all-negative: the root is negated once more
        let dp = share(
            vec![(0..8).map(|l| term(l, 0, true)).collect()],
            8,
            4,
            16,
            true,
        );
        assert_eq!(Levels::of(&dp).depth(), 4);
        // two equal PEs: a shared pair (level 1), then the pair of it and the third term
        // (level 2), which is each PE's whole result
        let pe = vec![term(0, 0, false), term(1, 1, false), term(2, 0, false)];
        let dp = share(vec![pe.clone(), pe], 3, 4, 16, true);
        assert_eq!(dp.shared.len(), 2, "the pairs recur");
        let lv = Levels::of(&dp);
        assert_eq!(lv.shared, vec![1, 2]);
        assert_eq!(lv.result, vec![2, 2]);
        let st = Staging::new(&dp, 1);
        assert_eq!((st.source_stage(&dp, 3), st.source_stage(&dp, 4)), (0, 1));
        // the first shared node and window element 2 cross into stage 1, where the second
        // shared node, each PE's result, is computed
        assert_eq!(
            register_bits(&dp, &st, 4),
            u64::from(dp.shared[0].width) + 4 + 1
        );
    }

    #[test]
    fn stages_cut_every_l_levels_and_registers_carry_values_to_the_end() {
        let dp = share(
            vec![(0..16).map(|l| term(l, 0, false)).collect()],
            16,
            4,
            16,
            true,
        );
        // depth 4 (16 terms): no register by default
        assert_eq!(Levels::of(&dp).depth(), 4);
        let st = Staging::new(&dp, 1);
        assert_eq!(st.levels_per_stage, 2);
        assert_eq!(
            (st.stage(0), st.stage(1), st.stage(2), st.stage(3)),
            (0, 0, 0, 1)
        );
        // one register: the 4 adders of level 2 (stage 0) feed level 3 (stage 1) across one
        // boundary, each 7 bits (4-bit input + 1, + 2 levels), and the valid bit
        assert_eq!(register_bits(&dp, &st, 4), 4 * 7 + 1);
        // more registers than levels: the result is carried through the empty stages
        let st = Staging::new(&dp, 5);
        assert_eq!(st.levels_per_stage, 1);
        assert_eq!(st.stage(4), 3);
        let bits = register_bits(&dp, &st, 4);
        // 8 + 4 + 2 adders cross one boundary each (6, 7, 8 bits), the result two (16 bits)
        assert_eq!(bits, 8 * 6 + 4 * 7 + 2 * 8 + 2 * 16 + 5);
        assert_eq!(register_bits(&dp, &Staging::new(&dp, 0), 4), 0);
    }
}
