//! Sub-sums shared across the outputs of a hard-wired engine (`docs/hardware.md` §4.1): the
//! datapath of a constant-weight MVU as shared nodes plus one adder tree per PE.
//!
//! Every PE of a constant-weight engine sums `±(x_j << k)` over its non-zero weights. When two
//! window elements appear in several PEs with the same relative shift and the same relative
//! sign, `x_a ± (x_b << d)` (or `(x_a << d) ± x_b`) can be computed once and used, shifted and
//! signed, by each of them. [`share`] finds such pairs greedily, most frequent first (the
//! pairwise common-subexpression elimination of multiple-constant-multiplication work), until
//! no pair recurs; a shared node can itself be part of a later pair. It owns the algorithm and
//! the counts it reports ([`DatapathCost`]); the per-PE trees are [`AdderTree`]s, rendered by
//! the code generator and costed by the resource model like unshared ones.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::adder_tree::{AdderTree, ConstTerm};

/// A shared sub-sum: `(src_a << a_shift) ± (src_b << b_shift)`, one of the shifts 0. A source
/// `s` is window element `s` when `s < lanes`, else shared node `s − lanes` (an earlier one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedNode {
    /// First source.
    pub a: usize,
    /// Its left shift.
    pub a_shift: u32,
    /// Second source.
    pub b: usize,
    /// Its left shift.
    pub b_shift: u32,
    /// `a − b` instead of `a + b`.
    pub subtract: bool,
    /// Result width (signed, exact: one bit above the wider shifted operand).
    pub width: u32,
}

/// Adders and their result bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DatapathCost {
    /// Adders and subtractors (final negations included).
    pub adders: u64,
    /// The sum of their result widths.
    pub bits: u64,
}

/// The datapath of a constant-weight engine: shared nodes and one tree per PE, whose terms'
/// `lane` is a source index (window element, or `lanes + i` for shared node `i`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstDatapath {
    /// Window elements (`SIMD`).
    pub lanes: usize,
    /// The shared nodes, in dependency order.
    pub shared: Vec<SharedNode>,
    /// Per PE, its adder tree over its remaining terms.
    pub trees: Vec<AdderTree>,
    /// What the same engine costs without sharing.
    pub unshared: DatapathCost,
    /// The accumulator width (the trees wrap at it).
    pub acc_width: u32,
    /// Whether the sharing search ran (enabled, and the engine within [`SHARING_MAX_PAIRS`]).
    pub searched: bool,
}

impl ConstDatapath {
    /// The signed width of source `s` before its shift: `in_width + 1` for a window element
    /// (zero- or sign-extended by one bit), a shared node's width otherwise.
    pub fn source_width(&self, s: usize, in_width: u32) -> u32 {
        source_width(&self.shared, self.lanes, in_width, s)
    }
    /// Adders and result bits of the shared nodes and the trees.
    pub fn cost(&self) -> DatapathCost {
        let mut c = DatapathCost::default();
        for n in &self.shared {
            c.adders += 1;
            c.bits += u64::from(n.width);
        }
        for t in &self.trees {
            add_tree(&mut c, t, self.acc_width);
        }
        c
    }
}

/// The signed width of source `s` before its shift (see [`ConstDatapath::source_width`]).
fn source_width(shared: &[SharedNode], lanes: usize, in_width: u32, s: usize) -> u32 {
    if s < lanes {
        in_width + 1
    } else {
        shared[s - lanes].width
    }
}

fn add_tree(c: &mut DatapathCost, t: &AdderTree, acc_width: u32) {
    for n in &t.nodes {
        c.adders += 1;
        c.bits += u64::from(n.width);
    }
    if t.root_negated {
        // the final `0 − root` at the accumulator width
        c.adders += 1;
        c.bits += u64::from(acc_width);
    }
}

/// A pair pattern: sources `s1 < s2`, shift of `s2` minus shift of `s1`, opposite signs.
type Key = (usize, usize, i64, bool);

/// The pair in canonical order: by source, then shift, then sign (two terms of one source —
/// two digits of a hard-wired integer weight — order by shift).
fn ordered<'a>(a: &'a ConstTerm, b: &'a ConstTerm) -> (&'a ConstTerm, &'a ConstTerm) {
    if (a.lane, a.shift, a.negative) <= (b.lane, b.shift, b.negative) {
        (a, b)
    } else {
        (b, a)
    }
}

fn key(a: &ConstTerm, b: &ConstTerm) -> Key {
    let (t1, t2) = ordered(a, b);
    (
        t1.lane,
        t2.lane,
        i64::from(t2.shift) - i64::from(t1.shift),
        t1.negative != t2.negative,
    )
}

/// The largest engine [`share`] searches: its pair count `Σ_p T_p²/2` (`T_p` the terms of PE
/// `p`). conv2 of the default LeNet, hard-wired, has about 0.3 M pairs and takes about a
/// second; beyond the budget the engine keeps one tree per PE (generation stays fast and
/// its memory bounded).
pub const SHARING_MAX_PAIRS: u64 = 4_000_000;

/// The arguments of one [`share`] call, the key of its memo.
#[derive(PartialEq, Eq)]
struct ShareArgs {
    per_pe: Vec<Vec<ConstTerm>>,
    lanes: usize,
    in_width: u32,
    acc_width: u32,
    enabled: bool,
}

/// Datapaths [`share`] built last on this thread, newest last: the plan, the resource model,
/// the timing estimate and the code generator each ask for the same engine's datapath, and
/// the search is the costly part (about a second for a hard-wired conv2 of the LeNet).
const MEMO_ENTRIES: usize = 4;

thread_local! {
    static MEMO: std::cell::RefCell<Vec<(ShareArgs, ConstDatapath)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Builds the datapath of a constant-weight engine from each PE's non-zero terms (`lane` a
/// window element `< lanes`), sharing recurring pairs when `enabled` and the engine is within
/// [`SHARING_MAX_PAIRS`], for `in_width`-bit inputs and an `acc_width` accumulator.
/// Deterministic: ties go to the smallest pattern. The last few results are kept (a repeated
/// call with equal arguments returns a copy without searching again).
pub fn share(
    per_pe: Vec<Vec<ConstTerm>>,
    lanes: usize,
    in_width: u32,
    acc_width: u32,
    enabled: bool,
) -> ConstDatapath {
    let args = ShareArgs {
        per_pe,
        lanes,
        in_width,
        acc_width,
        enabled,
    };
    if let Some(dp) = MEMO.with(|m| {
        m.borrow()
            .iter()
            .find(|(a, _)| *a == args)
            .map(|(_, dp)| dp.clone())
    }) {
        return dp;
    }
    let dp = search(args.per_pe.clone(), lanes, in_width, acc_width, enabled);
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() == MEMO_ENTRIES {
            m.remove(0);
        }
        m.push((args, dp.clone()));
    });
    dp
}

/// [`share`] without the memo.
fn search(
    per_pe: Vec<Vec<ConstTerm>>,
    lanes: usize,
    in_width: u32,
    acc_width: u32,
    enabled: bool,
) -> ConstDatapath {
    let mut unshared = DatapathCost::default();
    for terms in &per_pe {
        add_tree(
            &mut unshared,
            &AdderTree::build_with(terms.clone(), &|_| in_width + 1, acc_width),
            acc_width,
        );
    }
    let mut pes = per_pe;
    let mut shared: Vec<SharedNode> = Vec::new();
    let pairs: u64 = pes
        .iter()
        .map(|t| (t.len() as u64) * (t.len() as u64) / 2)
        .sum();
    let searched = enabled && pairs <= SHARING_MAX_PAIRS;
    if searched {
        let mut counts: HashMap<Key, u32> = HashMap::new();
        for terms in &pes {
            for (i, a) in terms.iter().enumerate() {
                for b in &terms[i + 1..] {
                    *counts.entry(key(a, b)).or_insert(0) += 1;
                }
            }
        }
        let mut heap: BinaryHeap<(u32, Reverse<Key>)> = counts
            .iter()
            .filter(|(_, &c)| c >= 2)
            .map(|(&k, &c)| (c, Reverse(k)))
            .collect();
        let mut blocked: std::collections::HashSet<Key> = std::collections::HashSet::new();
        while let Some((c, Reverse(k))) = heap.pop() {
            if c < 2 {
                break;
            }
            if blocked.contains(&k) {
                continue; // a pattern too wide to share
            }
            let now = counts.get(&k).copied().unwrap_or(0);
            if now != c {
                // stale: the count fell since (a rise pushes its own entry)
                if now >= 2 && now < c {
                    heap.push((now, Reverse(k)));
                }
                continue;
            }
            let (s1, s2, d, opposite) = k;
            let width_of = |s: usize| source_width(&shared, lanes, in_width, s);
            let (a_shift, b_shift) = if d >= 0 {
                (0, d as u32)
            } else {
                ((-d) as u32, 0)
            };
            let width = (width_of(s1) + a_shift).max(width_of(s2) + b_shift) + 1;
            // the PEs holding the pattern, where the shared term still fits the accumulator
            let hits: Vec<(usize, usize, usize)> = pes
                .iter()
                .enumerate()
                .filter_map(|(p, terms)| {
                    // a source can hold several terms (the digits of an integer weight)
                    let at = |s: usize| (0..terms.len()).filter(move |&i| terms[i].lane == s);
                    at(s1).find_map(|i| {
                        at(s2)
                            .find(|&j| {
                                j != i
                                    && key(&terms[i], &terms[j]) == k
                                    && width + terms[i].shift.min(terms[j].shift) <= acc_width
                            })
                            .map(|j| (p, i, j))
                    })
                })
                .collect();
            if hits.len() < 2 {
                blocked.insert(k);
                continue;
            }
            let src = lanes + shared.len();
            shared.push(SharedNode {
                a: s1,
                a_shift,
                b: s2,
                b_shift,
                subtract: opposite,
                width,
            });
            for (p, i, j) in hits {
                let terms = &mut pes[p];
                let (t1, t2) = (terms[i], terms[j]);
                let (first, _) = ordered(&t1, &t2);
                let new = ConstTerm {
                    lane: src,
                    shift: t1.shift.min(t2.shift),
                    negative: first.negative,
                };
                // remove the pair (the larger index first), update the counts
                let (hi, lo) = if i > j { (i, j) } else { (j, i) };
                terms.remove(hi);
                terms.remove(lo);
                let mut bump = |kk: Key, up: bool| {
                    let e = counts.entry(kk).or_insert(0);
                    if up {
                        *e += 1;
                        if *e >= 2 {
                            heap.push((*e, Reverse(kk)));
                        }
                    } else {
                        *e = e.saturating_sub(1);
                    }
                };
                bump(key(&t1, &t2), false);
                for u in terms.iter() {
                    bump(key(&t1, u), false);
                    bump(key(&t2, u), false);
                    bump(key(&new, u), true);
                }
                terms.push(new);
            }
        }
    }
    let base = |s: usize| source_width(&shared, lanes, in_width, s);
    let trees = pes
        .into_iter()
        .map(|mut terms| {
            terms.sort_by_key(|t| t.lane);
            AdderTree::build_with(terms, &base, acc_width)
        })
        .collect();
    ConstDatapath {
        lanes,
        shared,
        trees,
        unshared,
        acc_width,
        searched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::adder_tree::TreeOperand;

    /// The value of `dp` for PE `p` on inputs `x` (exact integers; the widths are checked by
    /// the co-simulation tests).
    fn eval(dp: &ConstDatapath, p: usize, x: &[i64]) -> i64 {
        let mut shared = Vec::with_capacity(dp.shared.len());
        let src = |s: usize, shared: &[i64]| {
            if s < dp.lanes {
                x[s]
            } else {
                shared[s - dp.lanes]
            }
        };
        for n in &dp.shared {
            let a = src(n.a, &shared) << n.a_shift;
            let b = src(n.b, &shared) << n.b_shift;
            shared.push(if n.subtract { a - b } else { a + b });
        }
        let t = &dp.trees[p];
        let term = |i: usize| src(t.terms[i].lane, &shared) << t.terms[i].shift;
        let mut vals: Vec<i64> = Vec::with_capacity(t.nodes.len());
        for n in &t.nodes {
            let get = |op: TreeOperand, vals: &[i64]| match op {
                TreeOperand::Term(i) => term(i),
                TreeOperand::Node(j) => vals[j],
            };
            let (a, b) = (get(n.a, &vals), get(n.b, &vals));
            vals.push(if n.subtract { a - b } else { a + b });
        }
        let root = match t.root {
            None => 0,
            Some(TreeOperand::Term(i)) => term(i),
            Some(TreeOperand::Node(j)) => vals[j],
        };
        if t.root_negated {
            -root
        } else {
            root
        }
    }

    #[test]
    fn csd_digits_sum_to_the_integer_and_are_non_adjacent() {
        for q in -300i64..=300 {
            let d = crate::ops::mvu::csd_digits(q);
            let v: i64 = d
                .iter()
                .map(|&(k, neg)| if neg { -(1i64 << k) } else { 1i64 << k })
                .sum();
            assert_eq!(v, q);
            assert!(d.windows(2).all(|w| w[1].0 >= w[0].0 + 2), "{q}: {d:?}");
        }
        assert_eq!(crate::ops::mvu::csd_digits(7).len(), 2); // 8 − 1
    }

    #[test]
    fn shared_datapath_computes_every_dot_product_with_fewer_adders() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for round in 0..20 {
            let (pes, lanes) = (2 + round % 7, 3 + (round * 5) % 40);
            // few shifts and signs, so that pairs recur; some zero weights
            let mut per_pe: Vec<Vec<ConstTerm>> = Vec::new();
            for _ in 0..pes {
                let mut terms = Vec::new();
                for lane in 0..lanes {
                    if next(5) != 0 {
                        let shift = next(3) as u32;
                        terms.push(ConstTerm {
                            lane,
                            shift,
                            negative: next(2) == 1,
                        });
                        // now and then a second digit of the same weight (an integer weight
                        // in canonical signed digits)
                        if round % 2 == 1 && next(3) == 0 {
                            terms.push(ConstTerm {
                                lane,
                                shift: shift + 2,
                                negative: next(2) == 1,
                            });
                        }
                    }
                }
                per_pe.push(terms);
            }
            let dp = share(per_pe.clone(), lanes, 8, 40, true);
            let plain = share(per_pe.clone(), lanes, 8, 40, false);
            assert!(plain.shared.is_empty() && plain.cost() == plain.unshared);
            assert_eq!(dp.unshared, plain.unshared);
            assert!(dp.cost().bits <= dp.unshared.bits, "round {round}");
            for _ in 0..5 {
                let x: Vec<i64> = (0..lanes).map(|_| next(256) as i64 - 128).collect();
                for (p, terms) in per_pe.iter().enumerate() {
                    let want: i64 = terms
                        .iter()
                        .map(|t| {
                            let v = x[t.lane] << t.shift;
                            if t.negative {
                                -v
                            } else {
                                v
                            }
                        })
                        .sum();
                    assert_eq!(eval(&dp, p, &x), want, "round {round}, PE {p}");
                }
            }
            // no node twice (a pattern is processed once: its count only falls after)
            for (i, n) in dp.shared.iter().enumerate() {
                assert!(!dp.shared[..i].contains(n), "round {round}: node {i} twice");
            }
            // deterministic (the search itself, not the memo)
            assert_eq!(search(per_pe, lanes, 8, 40, true), dp);
        }
        // a pair in every PE is computed once
        let pair = |neg| {
            vec![
                ConstTerm {
                    lane: 0,
                    shift: 1,
                    negative: neg,
                },
                ConstTerm {
                    lane: 1,
                    shift: 3,
                    negative: !neg,
                },
            ]
        };
        let dp = share(vec![pair(false), pair(true), pair(false)], 2, 8, 40, true);
        assert_eq!(dp.shared.len(), 1);
        assert_eq!(dp.cost().adders, 1 + 1); // the shared node and one negation
        assert_eq!(dp.unshared.adders, 3);
    }
}
