//! Settings and Cherwell security-group rights (R6.3–R6.5).
