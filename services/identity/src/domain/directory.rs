//! identity directory: pure types and rules.
