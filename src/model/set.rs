//! Order in the model. A list-valued attribute is either a [`Set`] (order means nothing: subnets,
//! security groups, CIDRs, rules, route table associations …) or a [`Seq`] (order is part of
//! the value: the mixed instances policy's instance types, in priority order). The type says
//! which, so a reordered set can never plan a change and a reordered sequence always does.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A list whose order is part of its meaning (a priority order): compared item by item.
pub type Seq<T> = Vec<T>;

/// Distinct values in no particular order. Equal when they hold the same values, whatever
/// order they were built in; serialized sorted (so the planner's field-level JSON diffs and
/// the observed digest see one canonical form).
#[derive(Clone)]
pub struct Set<T>(Vec<T>);

impl<T> Default for Set<T> {
    fn default() -> Self {
        Set(Vec::new())
    }
}

impl<T: Ord> Set<T> {
    /// The set of `items` (duplicates dropped).
    pub fn new(items: impl IntoIterator<Item = T>) -> Self {
        let mut items: Vec<T> = items.into_iter().collect();
        items.sort();
        items.dedup();
        Set(items)
    }

    /// The values, in sorted order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    /// How many values.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when it holds `item`.
    pub fn contains(&self, item: &T) -> bool {
        self.0.contains(item)
    }

    /// Adds `item` (nothing when it is there already).
    pub fn insert(&mut self, item: T) {
        if !self.0.contains(&item) {
            self.0.push(item);
            self.0.sort();
        }
    }

    /// Keeps only the values `keep` accepts.
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.0.retain(keep);
    }

    /// Mutable access to the values for code that rewrites references in several places at
    /// once; the caller calls [`Set::restore_order`] afterwards (equality and serialization
    /// do not depend on it, only iteration order does).
    pub(crate) fn values_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.0.iter_mut()
    }

    /// Sorts and deduplicates again after [`Set::values_mut`].
    pub(crate) fn restore_order(&mut self) {
        self.0.sort();
        self.0.dedup();
    }

    fn sorted(&self) -> Vec<&T> {
        let mut items: Vec<&T> = self.0.iter().collect();
        items.sort();
        items.dedup();
        items
    }
}

impl<T: Ord> PartialEq for Set<T> {
    fn eq(&self, other: &Self) -> bool {
        self.sorted() == other.sorted()
    }
}

impl<T: Ord> Eq for Set<T> {}

impl<T: Ord + fmt::Debug> fmt::Debug for Set<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.sorted()).finish()
    }
}

impl<T: Ord> FromIterator<T> for Set<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Set::new(iter)
    }
}

impl<T: Ord> From<Vec<T>> for Set<T> {
    fn from(items: Vec<T>) -> Self {
        Set::new(items)
    }
}

impl<'a, T: Ord> IntoIterator for &'a Set<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: Ord> IntoIterator for Set<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(mut self) -> Self::IntoIter {
        self.restore_order();
        self.0.into_iter()
    }
}

impl<T: Ord + Serialize> Serialize for Set<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.sorted())
    }
}

impl<'de, T: Ord + Deserialize<'de>> Deserialize<'de> for Set<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(deserializer).map(Set::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_built_in_another_order_is_equal_and_serializes_the_same() {
        let a = Set::new(["b", "a", "c"]);
        let b = Set::new(["c", "b", "a", "a"]);
        assert_eq!(a, b);
        assert_eq!(
            serde_json::to_string(&a).ok(),
            serde_json::to_string(&b).ok()
        );
        assert_eq!(
            serde_json::to_string(&a).ok().as_deref(),
            Some(r#"["a","b","c"]"#)
        );
    }

    #[test]
    fn values_rewritten_in_place_still_compare_and_serialize_as_a_set() {
        let mut a = Set::new([1, 2, 3]);
        for v in a.values_mut() {
            *v = 10 - *v; // 9, 8, 7: out of order until restored
        }
        assert_eq!(a, Set::new([7, 8, 9]));
        assert_eq!(serde_json::to_string(&a).ok().as_deref(), Some("[7,8,9]"));
        a.restore_order();
        assert_eq!(a.iter().copied().collect::<Vec<_>>(), vec![7, 8, 9]);
    }

    #[test]
    fn a_set_is_read_from_any_order() {
        let a: Set<u32> = serde_json::from_str("[3,1,2,1]").unwrap_or_default();
        assert_eq!(a.iter().copied().collect::<Vec<_>>(), vec![1, 2, 3]);
    }
}
