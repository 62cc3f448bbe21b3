//! account-team's domain: pure types and rules, no I/O. One module per area.

pub mod access;
pub mod contacts;
pub mod definitions;
pub mod relationships;
pub mod settings;
pub mod teams;

/// Declares a UUID id newtype local to account-team (the shared `csm_types`
/// holds the ids other services name too).
macro_rules! local_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(uuid::Uuid);

        impl $name {
            pub const KIND: &'static str = $kind;

            /// A new, time-ordered (UUID v7) id.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> &uuid::Uuid {
                &self.0
            }

            pub fn parse(value: &str) -> Result<Self, csm_types::InvalidId> {
                uuid::Uuid::parse_str(value.trim())
                    .map(Self)
                    .map_err(|_| csm_types::InvalidId { kind: $kind, value: value.to_owned() })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }
    };
}
pub(crate) use local_id;
