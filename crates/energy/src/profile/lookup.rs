//! Look-ups on a validated profile: arithmetic energy at any width, the precision a unit executes
//! a requirement at, op support, per-bit memory energies.
use super::schema::*;
use crate::figure::WidthFigure;
use crate::precision::Precision;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Mult,
}

impl Arith {
    fn table(&self, op: ArithOp, float: bool) -> &[WidthFigure] {
        match (op, float) {
            (ArithOp::Add, false) => &self.int_add,
            (ArithOp::Mult, false) => &self.int_mult,
            (ArithOp::Add, true) => &self.fp_add,
            (ArithOp::Mult, true) => &self.fp_mult,
        }
    }

    /// Energy (pJ) of one `op` at `p`: the listed figure, or the nearest listed width (in
    /// log-distance, ties to the wider) scaled by the profile's rule. `None` when the table of
    /// that kind is empty.
    pub fn energy(&self, op: ArithOp, p: Precision) -> Option<f64> {
        let table = self.table(op, p.is_float());
        let b = p.bits() as f64;
        let nearest = table.iter().min_by(|x, y| {
            let dx = (x.bits as f64 / b).ln().abs();
            let dy = (y.bits as f64 / b).ln().abs();
            dx.total_cmp(&dy).then(y.bits.cmp(&x.bits))
        })?;
        if nearest.bits == p.bits() {
            return Some(nearest.pj);
        }
        let exp = match op {
            ArithOp::Add => self.scaling.add_exponent,
            ArithOp::Mult => self.scaling.mult_exponent,
        };
        Some(nearest.pj * (b / nearest.bits as f64).powf(exp))
    }

    /// Energy (pJ) of multiplying an `a` by a `b`: the geometric mean of the two square
    /// multiplies (∝ a·b under a bits² rule); equal precisions give `energy(Mult, a)`.
    pub fn mult_energy(&self, a: Precision, b: Precision) -> Option<f64> {
        if a == b {
            return self.energy(ArithOp::Mult, a);
        }
        let ea = self.energy(ArithOp::Mult, a)?;
        let eb = self.energy(ArithOp::Mult, b)?;
        Some((ea * eb).sqrt())
    }
}

impl Unit {
    /// Whether the unit lists `op_type` (or `"*"`).
    pub fn supports_op(&self, op_type: &str) -> bool {
        self.ops.iter().any(|o| o == "*" || o == op_type)
    }

    /// The narrowest datapath precision of the same kind at least as wide as `p`.
    pub fn datapath_precision(&self, p: Precision) -> Option<Precision> {
        narrowest(self.precisions.iter().copied(), p)
    }

    /// The narrowest MAC precision at least as wide as `p`, with its MACs per PE per cycle.
    pub fn mac_precision(&self, p: Precision) -> Option<(Precision, f64)> {
        let chosen = narrowest(self.mac_array.throughput.iter().map(|t| t.precision), p)?;
        let t = self
            .mac_array
            .throughput
            .iter()
            .find(|t| t.precision == chosen)?;
        Some((chosen, t.macs_per_pe_per_cycle.value))
    }

    /// Processing elements of the MAC array.
    pub fn pes(&self) -> f64 {
        self.mac_array.rows.value * self.mac_array.cols.value
    }

    pub fn clock_hz(&self) -> f64 {
        self.clock_mhz.value * 1e6
    }
}

fn narrowest(candidates: impl Iterator<Item = Precision>, p: Precision) -> Option<Precision> {
    candidates
        .filter(|c| c.same_kind(p) && c.bits() >= p.bits())
        .min_by_key(|c| c.bits())
}

impl MemLevel {
    pub fn pj_per_bit(&self) -> f64 {
        self.energy_pj.value / self.access_bits as f64
    }
}

impl Sram {
    pub fn pj_per_bit(&self) -> f64 {
        self.energy_pj.value / self.access_bits as f64
    }
}
