//! identity consumers: pure types and rules.
