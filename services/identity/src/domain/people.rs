//! identity people: pure types and rules.
