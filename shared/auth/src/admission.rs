//! Admission: whether a verified person credential still means a caller.
//!
//! A credential names a login, maybe a session and a profile. It holds only
//! while the login exists and is enabled, the session (when named) belongs
//! to the login, is live and still has that profile active, and the profile
//! belongs to the login and is active (R1.9). The facts come from identity
//! (through each service's caller directory, fed by identity's change feed);
//! the rule is here, once.

use std::future::Future;
use std::pin::Pin;

use csm_errors::CsmError;
use csm_types::{LoginId, ProfileId, SessionId};

use crate::HumanCaller;
use crate::matrix::{CallerKind, CallerKinds};
use crate::token::PersonClaim;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A login as admission needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginFacts {
    pub id: LoginId,
    pub enabled: bool,
    pub default_profile: Option<ProfileId>,
}

/// A profile as admission needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileFacts {
    pub id: ProfileId,
    pub login: Option<LoginId>,
    /// The caller kind the profile's kind gives (agent, customer, partner, consumer).
    pub base: CallerKind,
    pub active: bool,
}

/// A login session as admission needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFacts {
    pub id: SessionId,
    pub login: LoginId,
    pub active_profile: ProfileId,
    pub ended: bool,
}

/// A person let in: the caller and the kind its profile gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmittedPerson {
    pub human: HumanCaller,
    pub base: CallerKind,
}

/// The profile a credential acts as: the one it names, else the one the
/// caller asked for (`x-csm-profile-id`, for OIDC tokens), else the
/// session's active profile, else the login's default profile.
pub fn acting_profile(
    claim: &PersonClaim,
    requested: Option<ProfileId>,
    session: Option<&SessionFacts>,
    login: &LoginFacts,
) -> Option<ProfileId> {
    claim.profile.or(requested).or(session.map(|session| session.active_profile)).or(login.default_profile)
}

/// Decides whether the credential holds. `login`: the login it names
/// (`None`: no such login); `session`: the session it names, if it names one
/// (`None` inside: no such session); `profile`: the acting profile's facts.
pub fn admit(
    claim: &PersonClaim,
    login: Option<&LoginFacts>,
    session: Option<Option<&SessionFacts>>,
    profile_id: Option<ProfileId>,
    profile: Option<&ProfileFacts>,
) -> Result<AdmittedPerson, CsmError> {
    let login = login.ok_or_else(|| {
        CsmError::unauthenticated("LOGIN_NOT_FOUND", "the login this credential names does not exist")
    })?;
    if !login.enabled {
        return Err(CsmError::unauthenticated("LOGIN_DISABLED", "this login is disabled"));
    }
    let session_id = match session {
        None => None,
        Some(None) => {
            return Err(CsmError::unauthenticated("SESSION_ENDED", "the session of this credential does not exist"));
        }
        Some(Some(session)) => {
            if session.login != login.id {
                return Err(CsmError::unauthenticated(
                    "SESSION_NOT_OF_LOGIN",
                    "the session of this credential belongs to another login",
                ));
            }
            if session.ended {
                return Err(CsmError::unauthenticated("SESSION_ENDED", "the session of this credential has ended"));
            }
            if let Some(named) = claim.profile
                && named != session.active_profile
            {
                return Err(CsmError::unauthenticated(
                    "PROFILE_SWITCHED",
                    "the session has switched to another profile: use the token SwitchProfile returned",
                ));
            }
            Some(session.id)
        }
    };
    let Some(profile_id) = profile_id else {
        return Err(CsmError::permission_denied(
            "ACTIVE_PROFILE_REQUIRED",
            "the credential names no profile and its login has no default profile",
        ));
    };
    let profile = match profile {
        Some(profile) if profile.login == Some(login.id) => profile,
        _ => {
            return Err(CsmError::permission_denied(
                "PROFILE_NOT_OF_LOGIN",
                "the profile this credential acts as does not belong to its login",
            )
            .with_metadata("profile_id", profile_id.to_string()));
        }
    };
    if !profile.active {
        return Err(CsmError::unauthenticated("PROFILE_INACTIVE", "the profile this credential acts as is inactive"));
    }
    Ok(AdmittedPerson {
        human: HumanCaller { login_id: login.id, session_id, profile_id: Some(profile.id) },
        base: profile.base,
    })
}

/// The role kinds `roles` give a person of base kind `base`.
pub fn role_kinds<'a>(base: CallerKind, roles: impl IntoIterator<Item = &'a str>) -> CallerKinds {
    let mut kinds = CallerKinds::of(base);
    let held: Vec<&str> = roles.into_iter().collect();
    for kind in CallerKind::ALL.into_iter().filter(|kind| kind.comes_from_a_role() && kind.applies_to(base)) {
        if let Some(role) = kind.role()
            && held.contains(&role)
        {
            kinds.insert(kind);
        }
    }
    kinds
}

/// Where admission gets its facts: each service's caller directory
/// (csm-server), a cache fed by identity's and role's change feeds.
pub trait CallerDirectory: Send + Sync + 'static {
    /// Admits the person behind a verified claim, or says why not.
    /// `requested`: the profile asked for in `x-csm-profile-id`.
    fn admit<'a>(
        &'a self,
        claim: &'a PersonClaim,
        requested: Option<ProfileId>,
    ) -> BoxFuture<'a, Result<AdmittedPerson, CsmError>>;

    /// The kinds of an admitted person including those its roles give.
    /// `fresh`: read through every cache (used before refusing).
    fn kinds<'a>(&'a self, person: &'a AdmittedPerson, fresh: bool) -> BoxFuture<'a, Result<CallerKinds, CsmError>>;
}

#[cfg(test)]
mod tests {
    use csm_types::roles;

    use super::*;
    use crate::token::LoginRef;

    fn world() -> (LoginFacts, SessionFacts, ProfileFacts) {
        let login = LoginFacts { id: LoginId::new(), enabled: true, default_profile: None };
        let profile =
            ProfileFacts { id: ProfileId::new(), login: Some(login.id), base: CallerKind::Customer, active: true };
        let session = SessionFacts { id: SessionId::new(), login: login.id, active_profile: profile.id, ended: false };
        (login, session, profile)
    }

    fn claim(login: &LoginFacts, session: Option<&SessionFacts>, profile: Option<ProfileId>) -> PersonClaim {
        PersonClaim { login: LoginRef::Id(login.id), session: session.map(|session| session.id), profile }
    }

    #[test]
    fn a_live_session_of_the_login_with_its_profile_is_admitted() {
        let (login, session, profile) = world();
        let claim = claim(&login, Some(&session), Some(profile.id));
        let admitted = admit(&claim, Some(&login), Some(Some(&session)), Some(profile.id), Some(&profile)).unwrap();
        assert_eq!(admitted.human.profile_id, Some(profile.id));
        assert_eq!(admitted.human.session_id, Some(session.id));
        assert_eq!(admitted.base, CallerKind::Customer);
    }

    #[test]
    fn every_broken_link_is_refused_with_its_reason() {
        let (login, session, profile) = world();
        let named = claim(&login, Some(&session), Some(profile.id));
        let reason =
            |login: Option<&LoginFacts>, session: Option<Option<&SessionFacts>>, profile: Option<&ProfileFacts>| {
                admit(&named, login, session, Some(named.profile.unwrap()), profile).unwrap_err().reason().to_owned()
            };
        assert_eq!(reason(None, None, Some(&profile)), "LOGIN_NOT_FOUND");
        let disabled = LoginFacts { enabled: false, ..login.clone() };
        assert_eq!(reason(Some(&disabled), None, Some(&profile)), "LOGIN_DISABLED");
        let ended = SessionFacts { ended: true, ..session.clone() };
        assert_eq!(reason(Some(&login), Some(Some(&ended)), Some(&profile)), "SESSION_ENDED");
        assert_eq!(reason(Some(&login), Some(None), Some(&profile)), "SESSION_ENDED");
        let switched = SessionFacts { active_profile: ProfileId::new(), ..session.clone() };
        assert_eq!(reason(Some(&login), Some(Some(&switched)), Some(&profile)), "PROFILE_SWITCHED");
        let foreign = SessionFacts { login: LoginId::new(), ..session.clone() };
        assert_eq!(reason(Some(&login), Some(Some(&foreign)), Some(&profile)), "SESSION_NOT_OF_LOGIN");
        let others = ProfileFacts { login: Some(LoginId::new()), ..profile.clone() };
        assert_eq!(reason(Some(&login), None, Some(&others)), "PROFILE_NOT_OF_LOGIN");
        assert_eq!(reason(Some(&login), None, None), "PROFILE_NOT_OF_LOGIN");
        let inactive = ProfileFacts { active: false, ..profile.clone() };
        assert_eq!(reason(Some(&login), None, Some(&inactive)), "PROFILE_INACTIVE");
    }

    #[test]
    fn the_acting_profile_falls_back_to_session_then_default() {
        let (mut login, session, profile) = world();
        let bare = claim(&login, None, None);
        assert_eq!(acting_profile(&bare, None, None, &login), None);
        login.default_profile = Some(profile.id);
        assert_eq!(acting_profile(&bare, None, None, &login), Some(profile.id));
        let other = ProfileId::new();
        assert_eq!(acting_profile(&bare, Some(other), Some(&session), &login), Some(other));
        assert_eq!(
            acting_profile(&claim(&login, Some(&session), None), None, Some(&session), &login),
            Some(session.active_profile)
        );
    }

    #[test]
    fn roles_add_kinds_only_on_top_of_their_base() {
        let kinds = role_kinds(CallerKind::Agent, [roles::ADMIN, roles::MANAGER]);
        assert!(
            kinds.contains(CallerKind::Agent)
                && kinds.contains(CallerKind::Admin)
                && kinds.contains(CallerKind::Manager)
        );
        // A contact holding the manager role is still no manager.
        let kinds = role_kinds(CallerKind::Customer, [roles::MANAGER, roles::CUSTOMER_ADMIN]);
        assert!(!kinds.contains(CallerKind::Manager));
        assert!(kinds.contains(CallerKind::CustomerAdmin));
        let kinds = role_kinds(CallerKind::Partner, [roles::PARTNER_ADMIN, roles::CUSTOMER_ADMIN]);
        assert!(kinds.contains(CallerKind::PartnerAdmin) && !kinds.contains(CallerKind::CustomerAdmin));
    }
}
