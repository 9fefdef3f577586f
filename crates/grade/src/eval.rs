//! Evaluation of answer trees: exactly over the Gaussian rationals where the value is
//! rational, and in floating point (with an error scale) where it is not.

use num_bigint::BigInt;
use num_complex::Complex64;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive, Zero};

use crate::parse::{Const, Func, Node};

/// Largest result, in bits, an exact power or factorial may produce. Past it we fall
/// back to floating point, so `10^{10^{10}}` costs nothing.
const MAX_BITS: u64 = 1 << 14;
const MAX_EVAL_DEPTH: usize = 128;

/// A Gaussian rational `re + im·i`: exact values of answers such as `4+6i`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Exact {
    pub re: BigRational,
    pub im: BigRational,
}

impl Exact {
    fn real(r: BigRational) -> Self {
        Exact { re: r, im: BigRational::zero() }
    }

    fn is_real(&self) -> bool {
        self.im.is_zero()
    }

    fn bits(&self) -> u64 {
        let b = |r: &BigRational| r.numer().bits() + r.denom().bits();
        b(&self.re) + b(&self.im)
    }

    fn add(&self, o: &Exact) -> Exact {
        Exact { re: &self.re + &o.re, im: &self.im + &o.im }
    }

    fn neg(&self) -> Exact {
        Exact { re: -&self.re, im: -&self.im }
    }

    fn mul(&self, o: &Exact) -> Exact {
        if self.is_real() && o.is_real() {
            return Exact::real(&self.re * &o.re);
        }
        Exact { re: &self.re * &o.re - &self.im * &o.im, im: &self.re * &o.im + &self.im * &o.re }
    }

    fn inv(&self) -> Option<Exact> {
        if self.is_real() {
            if self.re.is_zero() {
                return None;
            }
            return Some(Exact::real(self.re.recip()));
        }
        let d = &self.re * &self.re + &self.im * &self.im;
        Some(Exact { re: &self.re / &d, im: -&self.im / &d })
    }

    fn powi(&self, e: i64) -> Option<Exact> {
        let mag = e.unsigned_abs();
        // Size of the result bounds the work: refuse what would not fit.
        if (self.bits().max(1)).saturating_mul(mag) > MAX_BITS {
            return None;
        }
        let mut result = Exact::real(BigRational::one());
        let mut base = self.clone();
        let mut m = mag;
        while m > 0 {
            if m & 1 == 1 {
                result = result.mul(&base);
            }
            m >>= 1;
            if m > 0 {
                base = base.mul(&base);
            }
        }
        if e < 0 {
            result.inv()
        } else {
            Some(result)
        }
    }

    pub(crate) fn to_complex(&self) -> Complex64 {
        Complex64::new(rat_to_f64(&self.re), rat_to_f64(&self.im))
    }
}

pub(crate) fn rat_to_f64(r: &BigRational) -> f64 {
    r.to_f64().unwrap_or(f64::NAN)
}

fn small_int(e: &Exact) -> Option<i64> {
    if e.is_real() && e.re.is_integer() {
        e.re.to_integer().to_i64()
    } else {
        None
    }
}

/// The exact `n`-th root of a non-negative integer, if it has one.
fn int_root(x: &BigInt, n: u32) -> Option<BigInt> {
    if x.is_negative() {
        return None;
    }
    let r = x.nth_root(n);
    (num_traits::pow(r.clone(), n as usize) == *x).then_some(r)
}

fn rat_root(x: &BigRational, n: u32) -> Option<BigRational> {
    if x.is_negative() {
        // Odd roots of negatives are real.
        if n % 2 == 1 {
            return rat_root(&-x, n).map(|r| -r);
        }
        return None;
    }
    Some(BigRational::new(int_root(x.numer(), n)?, int_root(x.denom(), n)?))
}

/// The exact value of a variable-free rational (or Gaussian rational) expression.
/// `None` when the value is irrational, undefined, too large, or not a number.
pub(crate) fn exact(node: &Node) -> Option<Exact> {
    exact_d(node, 0)
}

fn exact_d(node: &Node, depth: usize) -> Option<Exact> {
    if depth > MAX_EVAL_DEPTH {
        return None;
    }
    let ev = |n: &Node| exact_d(n, depth + 1);
    match node {
        Node::Num(r, _) => Some(Exact::real(r.clone())),
        Node::Base(digits, base) => {
            let v = BigInt::parse_bytes(digits.as_bytes(), *base)?;
            Some(Exact::real(BigRational::from_integer(v)))
        }
        Node::Const(Const::I) => Some(Exact { re: BigRational::zero(), im: BigRational::one() }),
        Node::Add(v) => {
            let mut acc = Exact::real(BigRational::zero());
            for t in v {
                acc = acc.add(&ev(t)?);
                if acc.bits() > MAX_BITS {
                    return None;
                }
            }
            Some(acc)
        }
        Node::Neg(a) => Some(ev(a)?.neg()),
        Node::Mul(v) => {
            let mut acc = Exact::real(BigRational::one());
            for t in v {
                acc = acc.mul(&ev(t)?);
                if acc.bits() > MAX_BITS {
                    return None;
                }
            }
            Some(acc)
        }
        Node::Div(a, b) => {
            let r = ev(a)?.mul(&ev(b)?.inv()?);
            (r.bits() <= MAX_BITS).then_some(r)
        }
        Node::Percent(a) => {
            let hundred = Exact::real(BigRational::from_integer(BigInt::from(100)));
            Some(ev(a)?.mul(&hundred.inv()?))
        }
        Node::Pow(b, e) => {
            let base = ev(b)?;
            let exp = ev(e)?;
            if let Some(k) = small_int(&exp) {
                if base.re.is_zero() && base.im.is_zero() && k <= 0 {
                    return None;
                }
                return base.powi(k);
            }
            // Rational exponents of positive rationals: `8^{2/3}` is 4 exactly.
            if exp.is_real() && base.is_real() && !base.re.is_negative() {
                let den = exp.re.denom().to_u32().filter(|d| *d <= 16)?;
                let num = exp.re.numer().to_i64()?;
                let root = rat_root(&base.re, den)?;
                return Exact::real(root).powi(num);
            }
            None
        }
        Node::Root(n, x) => {
            let n = small_int(&ev(n)?)?;
            let x = ev(x)?;
            if !(2..=64).contains(&n) || !x.is_real() {
                return None;
            }
            Some(Exact::real(rat_root(&x.re, n as u32)?))
        }
        Node::Fact(a) => {
            let n = small_int(&ev(a)?)?;
            if !(0..=2000).contains(&n) {
                return None;
            }
            let mut acc = BigInt::one();
            for k in 2..=n {
                acc *= k;
            }
            Some(Exact::real(BigRational::from_integer(acc)))
        }
        Node::Binom(a, b) => {
            let n = small_int(&ev(a)?)?;
            let k = small_int(&ev(b)?)?;
            if !(0..=5000).contains(&n) {
                return None;
            }
            if k < 0 || k > n {
                return Some(Exact::real(BigRational::zero()));
            }
            let k = k.min(n - k);
            let mut acc = BigInt::one();
            for j in 0..k {
                acc = acc * (n - j) / (j + 1);
            }
            Some(Exact::real(BigRational::from_integer(acc)))
        }
        Node::Abs(a) => {
            let v = ev(a)?;
            if v.is_real() {
                Some(Exact::real(v.re.abs()))
            } else {
                None
            }
        }
        // A unit is compared by the checker; the value is the number.
        Node::Quantity(v, _) => ev(v),
        Node::Extremum(is_max, items) => {
            let mut best: Option<BigRational> = None;
            for item in items {
                let v = ev(item)?;
                if !v.is_real() {
                    return None;
                }
                best = Some(match best {
                    Some(b) if (v.re > b) == *is_max && v.re != b => v.re,
                    Some(b) => b,
                    None => v.re,
                });
            }
            Some(Exact::real(best?))
        }
        Node::Log(base, x) => {
            // Only the integer cases people write: `\log_2 8`.
            let x = ev(x)?;
            let b = match base {
                Some(b) => ev(b)?,
                None => Exact::real(BigRational::from_integer(BigInt::from(10))),
            };
            if !x.is_real() || !b.is_real() || !x.re.is_integer() || !b.re.is_integer() {
                return None;
            }
            let (xv, bv) = (x.re.to_integer(), b.re.to_integer());
            if bv <= BigInt::one() || xv <= BigInt::zero() {
                return None;
            }
            let mut k = 0i64;
            let mut acc = BigInt::one();
            while acc < xv {
                acc *= &bv;
                k += 1;
            }
            (acc == xv).then(|| Exact::real(BigRational::from_integer(BigInt::from(k))))
        }
        _ => None,
    }
}

/// A floating-point value and the magnitude of the terms that produced it. Rounding
/// error is relative to the scale, not to the value: `\sin\pi` is tiny but came from
/// terms of size about 3, so comparing it with 0 needs the scale.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Approx {
    pub v: Complex64,
    pub scale: f64,
}

pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<Complex64>;

pub(crate) fn approx(node: &Node, env: Env) -> Option<Approx> {
    approx_d(node, env, 0)
}

fn mk(v: Complex64, scale: f64) -> Approx {
    // A negative zero imaginary part would put `\sqrt{-1}` on the wrong side of the
    // branch cut; adding +0.0 turns -0.0 into +0.0.
    let v = Complex64::new(v.re + 0.0, v.im + 0.0);
    Approx { v, scale: scale.max(v.norm()) }
}

fn approx_d(node: &Node, env: Env, depth: usize) -> Option<Approx> {
    if depth > MAX_EVAL_DEPTH {
        return None;
    }
    let ev = |n: &Node| approx_d(n, env, depth + 1);
    Some(match node {
        Node::Num(r, _) => mk(Complex64::new(rat_to_f64(r), 0.0), 0.0),
        Node::Base(..) | Node::Fact(_) | Node::Binom(..) => {
            let e = exact_d(node, depth)?;
            mk(e.to_complex(), 0.0)
        }
        Node::Const(c) => {
            let v = match c {
                Const::Pi => Complex64::new(std::f64::consts::PI, 0.0),
                Const::E => Complex64::new(std::f64::consts::E, 0.0),
                Const::I => Complex64::new(0.0, 1.0),
                Const::Inf => return None,
            };
            mk(v, 0.0)
        }
        Node::Var(name) => mk(env(name)?, 0.0),
        Node::Add(v) => {
            let mut sum = Complex64::new(0.0, 0.0);
            let mut scale = 0.0;
            for t in v {
                let a = ev(t)?;
                sum += a.v;
                scale += a.scale;
            }
            mk(sum, scale)
        }
        Node::Neg(a) => {
            let a = ev(a)?;
            mk(-a.v, a.scale)
        }
        Node::Mul(v) => {
            let mut prod = Complex64::new(1.0, 0.0);
            let mut scale = 1.0;
            for t in v {
                let a = ev(t)?;
                prod *= a.v;
                scale *= a.scale;
            }
            mk(prod, scale)
        }
        Node::Div(a, b) => {
            let (a, b) = (ev(a)?, ev(b)?);
            let bn = b.v.norm();
            mk(a.v / b.v, a.scale / bn + a.v.norm() * b.scale / (bn * bn))
        }
        Node::Percent(a) => {
            let a = ev(a)?;
            mk(a.v / 100.0, a.scale / 100.0)
        }
        Node::Pow(b, e) => {
            let (b, e) = (ev(b)?, ev(e)?);
            let v = if e.v.im == 0.0 && e.v.re.fract() == 0.0 && e.v.re.abs() <= 1024.0 {
                b.v.powi(e.v.re as i32)
            } else if let Some(odd_numerator) =
                odd_den(e.v.re).filter(|_| b.v.im == 0.0 && b.v.re < 0.0 && e.v.im == 0.0)
            {
                // Real odd roots of negatives, as a reader means `(-8)^{1/3}` (-2) and
                // `(-8)^{2/3}` (4): the sign is the numerator's parity.
                let m = (-b.v.re).powf(e.v.re);
                Complex64::new(if odd_numerator { -m } else { m }, 0.0)
            } else {
                b.v.powc(e.v)
            };
            let bn = b.v.norm().max(f64::MIN_POSITIVE);
            let rel = e.v.norm() * b.scale / bn + e.scale * bn.ln().abs();
            mk(v, v.norm() * (1.0 + rel))
        }
        Node::Root(n, x) => {
            let (n, x) = (ev(n)?, ev(x)?);
            let v = if x.v.im == 0.0 && x.v.re < 0.0 && n.v.re.fract() == 0.0 && n.v.re % 2.0 != 0.0
            {
                Complex64::new(-(-x.v.re).powf(1.0 / n.v.re), 0.0)
            } else {
                x.v.powc(n.v.inv())
            };
            let xn = x.v.norm().max(f64::MIN_POSITIVE);
            mk(v, v.norm() * (1.0 + x.scale / xn))
        }
        Node::Func(f, a) => {
            let a = ev(a)?;
            let x = a.v;
            let (v, slope) = match f {
                Func::Sin => (x.sin(), 1.0),
                Func::Cos => (x.cos(), 1.0),
                Func::Tan => (x.tan(), 1.0 + x.tan().norm_sqr()),
                Func::Sec => (x.cos().inv(), (x.cos().inv() * x.tan()).norm() + 1.0),
                Func::Csc => (x.sin().inv(), (x.sin().inv() / x.tan()).norm() + 1.0),
                Func::Cot => (x.tan().inv(), 1.0 + x.tan().inv().norm_sqr()),
                Func::Asin => (x.asin(), 1.0),
                Func::Acos => (x.acos(), 1.0),
                Func::Atan => (x.atan(), 1.0),
                Func::Sinh => (x.sinh(), x.cosh().norm()),
                Func::Cosh => (x.cosh(), x.cosh().norm()),
                Func::Tanh => (x.tanh(), 1.0),
                Func::Ln => (x.ln(), 1.0 / x.norm().max(f64::MIN_POSITIVE)),
            };
            mk(v, v.norm() + slope * a.scale)
        }
        Node::Log(base, x) => {
            let x = ev(x)?;
            let b = match base {
                Some(b) => ev(b)?,
                None => mk(Complex64::new(10.0, 0.0), 0.0),
            };
            let v = x.v.ln() / b.v.ln();
            let xn = x.v.norm().max(f64::MIN_POSITIVE);
            mk(v, v.norm() + x.scale / xn / b.v.ln().norm().max(f64::MIN_POSITIVE))
        }
        Node::Abs(a) => {
            let a = ev(a)?;
            mk(Complex64::new(a.v.norm(), 0.0), a.scale)
        }
        Node::Quantity(v, _) => ev(v)?,
        Node::Extremum(is_max, items) => {
            let mut best: Option<Approx> = None;
            for item in items {
                let a = ev(item)?;
                // Only real values are ordered.
                if a.v.im.abs() > 1e-12 * a.scale.max(1.0) {
                    return None;
                }
                best = Some(match best {
                    Some(b) if (a.v.re > b.v.re) == *is_max => a,
                    Some(b) => b,
                    None => a,
                });
            }
            let b = best?;
            mk(Complex64::new(b.v.re, 0.0), b.scale)
        }
        _ => return None,
    })
}

/// For an exponent `n/d` with a small odd denominator (1/3, 2/5, …): whether `n` is
/// odd. `None` for other exponents.
fn odd_den(e: f64) -> Option<bool> {
    if e.fract() == 0.0 {
        return None;
    }
    (3..=15).step_by(2).find_map(|d| {
        let n = e * d as f64;
        ((n - n.round()).abs() < 1e-9).then(|| (n.round() as i64) % 2 != 0)
    })
}

/// Names of the free variables of `node`, sorted and deduplicated.
pub(crate) fn free_vars(node: &Node, out: &mut Vec<String>) {
    free_vars_d(node, out, 0)
}

fn free_vars_d(node: &Node, out: &mut Vec<String>, depth: usize) {
    if depth > MAX_EVAL_DEPTH || out.len() > 16 {
        return;
    }
    let mut go = |n: &Node| free_vars_d(n, out, depth + 1);
    match node {
        Node::Var(v) => {
            if !out.contains(v) {
                out.push(v.clone());
                out.sort();
            }
        }
        Node::Add(v)
        | Node::Mul(v)
        | Node::Tuple(v)
        | Node::Set(v)
        | Node::Union(v)
        | Node::List(v)
        | Node::Extremum(_, v)
        | Node::Rel(v, _) => v.iter().for_each(go),
        Node::Matrix(rows) => rows.iter().flatten().for_each(go),
        Node::Neg(a)
        | Node::Fact(a)
        | Node::Abs(a)
        | Node::Percent(a)
        | Node::Func(_, a)
        | Node::Quantity(a, _) => go(a),
        Node::Div(a, b)
        | Node::Pow(a, b)
        | Node::Root(a, b)
        | Node::Binom(a, b)
        | Node::Pm(a, b)
        | Node::Interval(_, a, b, _) => {
            go(a);
            go(b);
        }
        Node::Log(b, x) => {
            if let Some(b) = b {
                go(b);
            }
            go(x);
        }
        Node::Num(..) | Node::Base(..) | Node::Const(_) | Node::Text(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{lex, parse};

    fn ex(s: &str) -> Option<Exact> {
        let t = lex::tokenize(&lex::clean(s))?;
        exact(&parse::parse(&t)?)
    }

    #[test]
    fn exact_values() {
        let half = Exact::real(BigRational::new(1.into(), 2.into()));
        assert_eq!(ex(r"\frac12"), Some(half.clone()));
        assert_eq!(ex("0.5"), Some(half.clone()));
        assert_eq!(ex(r"2^{-1}"), Some(half.clone()));
        assert_eq!(ex(r"\sqrt{\frac14}"), Some(half));
        assert_eq!(ex(r"\sqrt{2}"), None);
        assert_eq!(ex(r"10^{10^{10}}"), None);
        assert_eq!(ex(r"\frac{1}{0}"), None);
        assert_eq!(ex("8^{2/3}"), ex("4"));
        assert_eq!(ex(r"\log_2 8"), ex("3"));
        assert_eq!(ex("5!"), ex("120"));
        assert_eq!(ex(r"\binom{5}{2}"), ex("10"));
        assert_eq!(ex("(1+i)^2"), ex("2i"));
    }
}
