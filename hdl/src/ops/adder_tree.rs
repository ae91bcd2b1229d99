//! The adder tree of a constant-weight PE (`docs/hardware.md` §4.1): its non-zero terms, a
//! balanced tree of adders and subtractors over them, and the final negation when needed.
//! Built by the plan, rendered by the code generator, costed by the resource model.

/// One non-zero product of a constant-weight PE: `sign · (x_lane << shift)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConstTerm {
    /// The lane (window element) it multiplies; in a shared datapath
    /// ([`super::sharing::ConstDatapath`]) a source: a window element, or `SIMD + i` for
    /// shared sub-sum `i`.
    pub lane: usize,
    /// The left shift: the weight's exponent index (`|w| = 2^(n2 + shift)`).
    pub shift: u32,
    /// Whether the weight is negative (the term is subtracted).
    pub negative: bool,
}

/// An operand of a constant-weight adder tree ([`AdderTree`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeOperand {
    /// Term `i` of [`AdderTree::terms`]: `x_lane << shift` zero/sign-extended to
    /// `in_width + shift + 1` bits, or a shared sub-sum shifted (pure wiring; its sign is
    /// applied by the adder using it).
    Term(usize),
    /// The result of node `i` of [`AdderTree::nodes`].
    Node(usize),
}

/// One adder (or subtractor) of an [`AdderTree`]: `a + b` or `a − b`, operands sign-extended
/// to `width` bits (wrapping at the accumulator width, like the accumulator itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeNode {
    /// First operand (the minuend of a subtraction).
    pub a: TreeOperand,
    /// Second operand.
    pub b: TreeOperand,
    /// `a − b` instead of `a + b`.
    pub subtract: bool,
    /// Result width: one bit more than the wider operand, at most `ACC_W`.
    pub width: u32,
}

/// The adder tree computing one PE's dot product from constant weights: the non-zero terms
/// (zero weights have none), a balanced tree of adders/subtractors over them (a negative term
/// is subtracted, never negated on its own), and the root, negated once more if it is the
/// negative of the sum (only when every term of its subtree combination is negative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdderTree {
    /// The non-zero products in lane order.
    pub terms: Vec<ConstTerm>,
    /// Width of each term operand (`in_width + shift + 1`, at most `ACC_W`).
    pub term_widths: Vec<u32>,
    /// The adders, in dependency order (a node only uses earlier nodes).
    pub nodes: Vec<TreeNode>,
    /// The root (`None`: every weight is zero and the sum is 0).
    pub root: Option<TreeOperand>,
    /// The root holds the negated sum: the result is `0 − root`.
    pub root_negated: bool,
}

impl AdderTree {
    /// Builds the tree of the `terms` of one PE for `in_width`-bit inputs and an `acc_width`
    /// accumulator.
    pub fn build(terms: Vec<ConstTerm>, in_width: u32, acc_width: u32) -> Self {
        Self::build_with(terms, &|_| in_width + 1, acc_width)
    }

    /// Builds the tree of `terms` whose sources (`ConstTerm::lane`: a window element or a
    /// shared sub-sum, [`super::sharing`]) are `source_width(lane)` bits wide before their
    /// shift, for an `acc_width` accumulator.
    pub fn build_with(
        terms: Vec<ConstTerm>,
        source_width: &dyn Fn(usize) -> u32,
        acc_width: u32,
    ) -> Self {
        let term_widths: Vec<u32> = terms
            .iter()
            .map(|t| (source_width(t.lane) + t.shift).min(acc_width))
            .collect();
        // (operand, holds the negated value, width)
        let mut level: Vec<(TreeOperand, bool, u32)> = terms
            .iter()
            .enumerate()
            .map(|(i, t)| (TreeOperand::Term(i), t.negative, term_widths[i]))
            .collect();
        let mut nodes = Vec::new();
        while level.len() > 1 {
            let mut next = Vec::with_capacity(level.len().div_ceil(2));
            for pair in level.chunks(2) {
                match pair {
                    [(a, na, wa), (b, nb, wb)] => {
                        let width = ((*wa).max(*wb) + 1).min(acc_width);
                        // +a+b, +a−b, +b−a, −(a+b)
                        let (x, y, subtract, neg) = match (na, nb) {
                            (false, false) => (*a, *b, false, false),
                            (false, true) => (*a, *b, true, false),
                            (true, false) => (*b, *a, true, false),
                            (true, true) => (*a, *b, false, true),
                        };
                        nodes.push(TreeNode {
                            a: x,
                            b: y,
                            subtract,
                            width,
                        });
                        next.push((TreeOperand::Node(nodes.len() - 1), neg, width));
                    }
                    [one] => next.push(*one),
                    _ => {}
                }
            }
            level = next;
        }
        let (root, root_negated) = match level.first() {
            Some(&(op, neg, _)) => (Some(op), neg),
            None => (None, false),
        };
        AdderTree {
            terms,
            term_widths,
            nodes,
            root,
            root_negated,
        }
    }

    /// Adders and subtractors of the tree, including the final negation if any.
    pub fn adder_count(&self) -> usize {
        self.nodes.len() + usize::from(self.root_negated)
    }
}

/// LUTs and CARRY4 cells of a constant-weight adder tree: one LUT per result bit on a carry
/// chain, except the low bits where one operand is known zero (a term `x << k` has `k` zero
/// low bits), which are the other operand's bits wired through; plus the final negation.
pub fn tree_cost(tree: &AdderTree, acc_width: u64) -> (u64, u64) {
    let mut zeros: Vec<u32> = Vec::with_capacity(tree.nodes.len());
    let (mut luts, mut carry) = (0u64, 0u64);
    for n in &tree.nodes {
        let z = |op: TreeOperand| match op {
            TreeOperand::Term(i) => tree.terms[i].shift,
            TreeOperand::Node(j) => zeros[j],
        };
        let (za, zb) = (z(n.a), z(n.b));
        let active = u64::from(n.width.saturating_sub(za.max(zb)));
        luts += active;
        carry += active.div_ceil(4);
        zeros.push(za.min(zb));
    }
    if tree.root_negated {
        luts += acc_width;
        carry += acc_width.div_ceil(4);
    }
    (luts, carry)
}
