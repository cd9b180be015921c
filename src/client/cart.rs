//! Shopping-cart values (the `merge` reconciliation policy): an item set,
//! siblings merged by union — so an item removed on one branch comes back
//! when merged with a concurrent branch that still holds it (Dynamo §4.4).

use crate::check::history::CartOp;
use crate::protocol::{CartItems, Version};

/// The union of the item sets of `versions` (sorted, distinct).
pub fn merge_items<'a>(versions: impl IntoIterator<Item = &'a Version>) -> CartItems {
    let mut items: Vec<u32> = versions.into_iter().filter_map(|v| v.items.as_deref()).flatten().copied().collect();
    items.sort_unstable();
    items.dedup();
    CartItems::new(items)
}

/// The cart after applying `op` to `items`.
pub fn apply(items: &[u32], op: CartOp) -> CartItems {
    match op {
        CartOp::Add(item) => {
            let mut next = items.to_vec();
            if let Err(at) = next.binary_search(&item) {
                next.insert(at, item);
            }
            CartItems::new(next)
        }
        CartOp::Remove(item) => CartItems::new(items.iter().copied().filter(|&i| i != item).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::vclock::VectorClock;
    use crate::protocol::{Stamp, Value, VersionData, WriteId};

    fn cart(items: &[u32]) -> Version {
        let value = Value { write: WriteId(1), bytes: 1, items: Some(CartItems::new(items.to_vec())) };
        Version::from(VersionData::new(VectorClock::new(), Default::default(), Stamp::default(), value))
    }

    #[test]
    fn siblings_merge_by_union_so_a_removed_item_resurfaces() {
        // Branch a removed item 2; concurrent branch b still holds it.
        let a = cart(&[1]);
        let b = cart(&[1, 2, 3]);
        assert_eq!(&*merge_items([&a, &b]), &[1, 2, 3]);
    }

    #[test]
    fn add_and_remove_edit_the_set() {
        assert_eq!(&*apply(&[1, 3], CartOp::Add(2)), &[1, 2, 3]);
        assert_eq!(&*apply(&[1, 3], CartOp::Add(3)), &[1, 3]);
        assert_eq!(&*apply(&[1, 3], CartOp::Remove(1)), &[3]);
    }
}
