//! SQL of settings and security-group rights.
