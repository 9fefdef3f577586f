//! Units of measure in answers: which words name a unit, what the unit measures and
//! how it converts, so that `5 km` equals `5000 m` and differs from `5 m`.
//!
//! Only units whose conversion is an exact definition are converted (an inch is
//! 2.54 cm exactly, a US gallon 3.785411784 L). Units whose size is not fixed (a month,
//! a year, a ton) or that cannot be converted exactly (degrees and radians) measure
//! only themselves: they equal the same unit and differ from every other. Words that
//! are not units (`apples`, `people`) are labels: the parser drops them, since a count
//! of apples is a number.

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::One;

/// A unit: its dimension (base quantities with exponents, sorted by name) and the
/// exact factor that converts a value in this unit to the base units.
///
/// Invariant: `dims` is sorted by name, has no zero exponents and no repeated names.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Unit {
    pub dims: Vec<(&'static str, i32)>,
    pub factor: BigRational,
}

/// `(spellings, base quantity, factor numerator, factor denominator)`.
type Entry = (&'static [&'static str], &'static str, i64, i64);

/// Every unit word we convert. Spellings are matched case-insensitively.
const TABLE: &[Entry] = &[
    // Length, in metres.
    (&["mm", "millimeter", "millimeters", "millimetre", "millimetres"], "m", 1, 1000),
    (&["cm", "centimeter", "centimeters", "centimetre", "centimetres"], "m", 1, 100),
    (&["dm", "decimeter", "decimeters"], "m", 1, 10),
    (&["m", "meter", "meters", "metre", "metres"], "m", 1, 1),
    (&["km", "kilometer", "kilometers", "kilometre", "kilometres"], "m", 1000, 1),
    (&["in", "inch", "inches"], "m", 127, 5000),
    (&["ft", "foot", "feet"], "m", 381, 1250),
    (&["yd", "yard", "yards"], "m", 1143, 1250),
    (&["mi", "mile", "miles"], "m", 201_168, 125),
    // Mass, in grams.
    (&["mg", "milligram", "milligrams"], "g", 1, 1000),
    (&["g", "gram", "grams"], "g", 1, 1),
    (&["kg", "kilogram", "kilograms", "kilo", "kilos"], "g", 1000, 1),
    (&["lb", "lbs", "pound", "pounds"], "g", 45_359_237, 100_000),
    (&["oz", "ounce", "ounces"], "g", 45_359_237, 1_600_000),
    // Time, in seconds.
    (&["ms", "millisecond", "milliseconds"], "s", 1, 1000),
    (&["s", "sec", "secs", "second", "seconds"], "s", 1, 1),
    (&["min", "mins", "minute", "minutes"], "s", 60, 1),
    (&["h", "hr", "hrs", "hour", "hours"], "s", 3600, 1),
    (&["day", "days"], "s", 86_400, 1),
    (&["week", "weeks", "wk", "wks"], "s", 604_800, 1),
    // Volume, in litres (US customary measures by their exact definitions).
    (&["ml", "milliliter", "milliliters", "millilitre", "millilitres"], "l", 1, 1000),
    (&["l", "liter", "liters", "litre", "litres"], "l", 1, 1),
    (&["gal", "gallon", "gallons"], "l", 3_785_411_784, 1_000_000_000),
    (&["qt", "quart", "quarts"], "l", 946_352_946, 1_000_000_000),
    (&["pt", "pint", "pints"], "l", 473_176_473, 1_000_000_000),
    (&["cup", "cups"], "l", 2_365_882_365, 10_000_000_000),
    // Money, in dollars.
    (&["dollar", "dollars", "usd", "buck", "bucks"], "$", 1, 1),
    (&["cent", "cents"], "$", 1, 100),
];

/// Units that measure only themselves: `(spellings, name)`.
const OWN: &[(&[&str], &str)] = &[
    (&["month", "months"], "month"),
    (&["year", "years", "yr", "yrs"], "year"),
    (&["ton", "tons", "tonne", "tonnes"], "ton"),
    (&["euro", "euros", "eur"], "euro"),
    (&["degree", "degrees", "deg"], "degree"),
    (&["rad", "radian", "radians"], "radian"),
    (&["acre", "acres"], "acre"),
    (&["hectare", "hectares"], "hectare"),
];

/// Words that make the next unit an area or a volume.
const POWER_PREFIXES: &[(&str, i32)] = &[("square", 2), ("sq", 2), ("cubic", 3), ("cu", 3)];

/// Speeds written as one word.
const SPEEDS: &[(&str, &str, &str)] =
    &[("mph", "mi", "h"), ("kph", "km", "h"), ("kmh", "km", "h"), ("fps", "ft", "s")];

impl Unit {
    /// The unit one word names, if it names one.
    pub(crate) fn word(w: &str) -> Option<Unit> {
        let lw = w.to_ascii_lowercase();
        let lw = lw.as_str();
        if let Some((_, base, n, d)) = TABLE.iter().find(|(names, ..)| names.contains(&lw)) {
            return Some(Unit {
                dims: vec![(base, 1)],
                factor: BigRational::new(BigInt::from(*n), BigInt::from(*d)),
            });
        }
        if let Some((_, name)) = OWN.iter().find(|(names, _)| names.contains(&lw)) {
            return Some(Unit { dims: vec![(name, 1)], factor: BigRational::one() });
        }
        let (_, top, bottom) = SPEEDS.iter().find(|(name, ..)| *name == lw)?;
        Some(Unit::word(top)?.per(&Unit::word(bottom)?))
    }

    /// `self` raised to an integer power (`cm` → `cm²`).
    pub(crate) fn pow(&self, k: i32) -> Unit {
        let factor = if k >= 0 {
            num_traits::pow(self.factor.clone(), k as usize)
        } else {
            num_traits::pow(self.factor.recip(), k.unsigned_abs() as usize)
        };
        let dims = self.dims.iter().map(|(n, e)| (*n, e * k)).filter(|(_, e)| *e != 0).collect();
        Unit { dims, factor }
    }

    /// `self` per `other` (`km` per `h`).
    pub(crate) fn per(&self, other: &Unit) -> Unit {
        let inv = other.pow(-1);
        let mut dims = self.dims.clone();
        for (name, e) in inv.dims {
            match dims.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 += e,
                None => dims.push((name, e)),
            }
        }
        dims.retain(|(_, e)| *e != 0);
        dims.sort_by(|a, b| a.0.cmp(b.0));
        Unit { dims, factor: &self.factor * &inv.factor }
    }
}

/// The power a prefix word (`square`, `cubic`) gives the unit after it.
pub(crate) fn power_prefix(w: &str) -> Option<i32> {
    let lw = w.to_ascii_lowercase();
    POWER_PREFIXES.iter().find(|(p, _)| *p == lw).map(|(_, k)| *k)
}

/// Whether a word names a unit (or a unit's prefix): the tokeniser reads such a word as
/// a word even when it follows a number without a space (`5cm`).
pub(crate) fn is_unit_word(w: &str) -> bool {
    Unit::word(w).is_some() || power_prefix(w).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_are_exact() {
        let km = Unit::word("km").unwrap();
        let m = Unit::word("meters").unwrap();
        assert_eq!(km.dims, m.dims);
        assert_eq!(km.factor, BigRational::from_integer(1000.into()));
        let mph = Unit::word("mph").unwrap();
        assert_eq!(mph.dims, vec![("m", 1), ("s", -1)]);
        assert_eq!(mph.factor, BigRational::new(201_168.into(), 450_000.into()));
        let sq_ft = Unit::word("ft").unwrap().pow(2);
        assert_eq!(sq_ft.dims, vec![("m", 2)]);
        assert_ne!(Unit::word("degrees"), Unit::word("radians"));
        assert_ne!(Unit::word("month").unwrap().dims, Unit::word("year").unwrap().dims);
        assert!(Unit::word("apples").is_none());
    }
}
