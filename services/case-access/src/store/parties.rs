//! SQL of related parties, sold products and install base items.
