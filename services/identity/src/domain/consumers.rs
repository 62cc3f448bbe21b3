//! identity's consumers: consumer records and their link to a user profile
//! (R1.3, R1.11, R1.12, R1.18), consumer profiles (R1.17) and households
//! (R1.5, R4.11). Pure types and rules, no I/O.

use std::fmt;

use chrono::{DateTime, Utc};
use csm_types::{ConsumerId, HouseholdId, InvalidId, ProfileId, SecurityGroupId};
use uuid::Uuid;

use crate::domain::directory::{IdentitySettings, UserClass};
use crate::domain::people::{Channel, LoginChoice, PersonDetails, ProfileKind, channel_allowed};

/// Roles that may create, change and read every consumer, consumer profile
/// and household (consumer agents and managers, T4.3; admins).
pub const CONSUMER_ADMIN_ROLES: &[&str] =
    &[csm_types::roles::ADMIN, csm_types::roles::CONSUMER_AGENT, csm_types::roles::MANAGER];

/// Whose consumer records (personal data) a caller may read. Services and
/// consumer-facing internal people read all; a consumer reads its own
/// record, those of the households it heads and of the consumers it is the
/// authorized representative of; nobody else reads any (B2B contacts and
/// partners never, the authorization matrix keeps them out before this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerScope {
    All,
    Only(std::collections::BTreeSet<ConsumerId>),
}

impl ConsumerScope {
    pub fn allows(&self, consumer: ConsumerId) -> bool {
        match self {
            ConsumerScope::All => true,
            ConsumerScope::Only(consumers) => consumers.contains(&consumer),
        }
    }

    /// The consumers a list is limited to (`None`: no limit).
    pub fn restriction(&self) -> Option<Vec<ConsumerId>> {
        match self {
            ConsumerScope::All => None,
            ConsumerScope::Only(consumers) => Some(consumers.iter().copied().collect()),
        }
    }
}

/// Maximum length of a consumer's, consumer profile's or household's name.
pub const CONSUMER_NAME_MAX_LEN: usize = 200;
/// Maximum length of a consumer profile's sub-profile type ("patient" …).
pub const SUB_PROFILE_TYPE_MAX_LEN: usize = 100;
/// Maximum number of ids ListConsumerProfiles accepts.
pub const CONSUMER_PROFILE_IDS_MAX: usize = 1000;

/// A consumer profile record (R1.17). Not in `csm_types`: only identity and
/// the records referencing a consumer profile use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConsumerProfileId(Uuid);

impl ConsumerProfileId {
    pub const KIND: &'static str = "consumer_profile_id";

    /// A new, time-ordered (UUID v7) id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// Parses the wire form (a UUID string).
    pub fn parse(value: &str) -> Result<Self, InvalidId> {
        Uuid::parse_str(value.trim()).map(Self).map_err(|_| InvalidId { kind: Self::KIND, value: value.to_owned() })
    }
}

impl Default for ConsumerProfileId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ConsumerProfileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_hyphenated().fmt(f)
    }
}

// ------------------------------------------------------------------ consumers

/// A consumer record (Consumers table), optionally linked to one user profile (R1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub id: ConsumerId,
    pub display_name: String,
    pub details: PersonDetails,
    /// The linked user profile; a profile is linked to at most one consumer.
    pub user_profile: Option<ProfileId>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new CONSUMER profile (consumer-user) created with its consumer (R1.3, R2.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConsumerUser {
    /// Portal credentials (R1.7): a CONSUMER profile may hold CONSUMER_PORTAL only.
    pub channels: Vec<Channel>,
    /// A CUSTOMER group; `None`: the default CUSTOMER group once a portal
    /// channel is held (R1.8).
    pub security_group: Option<SecurityGroupId>,
    pub login: LoginChoice,
}

/// Which user profile a new consumer is linked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerUserChoice {
    /// An unlinked consumer record.
    None,
    /// An existing profile (contact-as-consumer R1.11, employee-as-consumer R1.12).
    Link(ProfileId),
    /// A new CONSUMER profile.
    New(NewConsumerUser),
}

/// A validated CreateConsumer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConsumer {
    pub display_name: String,
    pub details: PersonDetails,
    pub user: ConsumerUserChoice,
}

/// The fields an UpdateConsumer writes: `None` / absent fields are unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerChanges {
    pub display_name: Option<String>,
    /// The detail fields written (names of [`PersonDetails::FIELDS`]), with
    /// their new values in [`Self::detail_values`].
    pub detail_fields: Vec<&'static str>,
    pub detail_values: PersonDetails,
    pub active: Option<bool>,
}

impl ConsumerChanges {
    /// `consumer` with these changes applied.
    pub fn apply_to(&self, consumer: &Consumer) -> Consumer {
        let mut updated = consumer.clone();
        if let Some(display_name) = &self.display_name {
            updated.display_name = display_name.clone();
        }
        for field in &self.detail_fields {
            updated.details.copy_field(field, &self.detail_values);
        }
        if let Some(active) = self.active {
            updated.active = active;
        }
        updated
    }
}

/// R1.18: whether an update of a consumer is copied to its linked profile of
/// `kind`: only to a consumer-user (CONSUMER) profile, never to a contact or
/// employee linked as consumer (R1.11, R1.12).
pub fn syncs_details_to_linked_profile(kind: ProfileKind) -> bool {
    kind.user_class() == UserClass::ConsumerUser
}

/// R1.18: `profile_details` after the consumer's changed `fields` are copied
/// from `consumer_details` (every field R1.18 names is a person detail).
pub fn synchronized_details(
    profile_details: &PersonDetails,
    consumer_details: &PersonDetails,
    fields: &[&'static str],
) -> PersonDetails {
    let mut synced = profile_details.clone();
    for field in fields {
        synced.copy_field(field, consumer_details);
    }
    synced
}

/// What the link rules need to know about a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkCandidate {
    pub profile: ProfileId,
    pub kind: ProfileKind,
    /// The consumer the profile is linked to now, if any.
    pub consumer: Option<ConsumerId>,
}

/// Why a consumer ↔ user link was refused (FAILED_PRECONDITION reasons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkRefusal {
    /// R1.3: the profile's user class is not in consumer_allowed_user_types.
    UserTypeNotAllowed(UserClass),
    /// The profile is linked to another consumer (or is a sub-profile of one).
    ProfileAlreadyLinked(ConsumerId),
    /// A CONSUMER profile cannot lose its consumer record.
    ConsumerLinkRequired(ProfileId),
}

impl LinkRefusal {
    /// The `ErrorInfo.reason` of the refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            LinkRefusal::UserTypeNotAllowed(_) => "USER_TYPE_NOT_ALLOWED",
            LinkRefusal::ProfileAlreadyLinked(_) => "PROFILE_ALREADY_LINKED",
            LinkRefusal::ConsumerLinkRequired(_) => "CONSUMER_LINK_REQUIRED",
        }
    }
}

impl fmt::Display for LinkRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkRefusal::UserTypeNotAllowed(class) => write!(
                f,
                "a consumer cannot be linked to a {class} profile: consumer_allowed_user_types does not include it"
            ),
            LinkRefusal::ProfileAlreadyLinked(consumer) => {
                write!(f, "the profile is already linked to consumer {consumer}")
            }
            LinkRefusal::ConsumerLinkRequired(profile) => {
                write!(f, "CONSUMER profile {profile} must stay linked to its consumer record")
            }
        }
    }
}

/// R1.3: may `consumer` be linked to `candidate`? A link that already exists
/// stays valid whatever the settings say now.
pub fn check_link(
    settings: &IdentitySettings,
    consumer: ConsumerId,
    candidate: &LinkCandidate,
) -> Result<(), LinkRefusal> {
    match candidate.consumer {
        Some(linked) if linked == consumer => return Ok(()),
        Some(linked) => return Err(LinkRefusal::ProfileAlreadyLinked(linked)),
        None => {}
    }
    let class = candidate.kind.user_class();
    if !settings.allows_consumer_link(class) {
        return Err(LinkRefusal::UserTypeNotAllowed(class));
    }
    Ok(())
}

/// May the consumer's current link to a profile of `kind` be removed
/// (unlinking, or replacing it by another profile)? Not for a CONSUMER
/// profile: it exists only as the consumer's user (R1.3).
pub fn check_unlink(profile: ProfileId, kind: ProfileKind) -> Result<(), LinkRefusal> {
    if kind == ProfileKind::Consumer {
        return Err(LinkRefusal::ConsumerLinkRequired(profile));
    }
    Ok(())
}

/// R1.7: the channels a profile of `kind` keeps when its consumer link is
/// removed (CONSUMER_PORTAL is held only through the link).
pub fn channels_after_unlink(kind: ProfileKind, channels: &[Channel]) -> Vec<Channel> {
    channels.iter().copied().filter(|channel| channel_allowed(kind, false, *channel)).collect()
}

// ---------------------------------------------------------- consumer profiles

/// A consumer profile record: a profile-specific view of one consumer that
/// transactional records reference (R1.17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerProfile {
    pub id: ConsumerProfileId,
    pub consumer: ConsumerId,
    /// E.g. "patient", "constituent".
    pub sub_profile_type: String,
    pub display_name: String,
    pub active: bool,
    /// The CONSUMER_SUB_PROFILE profile bound to it (R1.9, R1.10b).
    pub profile: Option<ProfileId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated CreateConsumerProfile request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConsumerProfile {
    pub consumer: ConsumerId,
    pub sub_profile_type: String,
    /// Empty: "<consumer display name> (<sub_profile_type>)".
    pub display_name: String,
}

impl NewConsumerProfile {
    /// The display name the record gets.
    pub fn display_name_for(&self, consumer: &Consumer) -> String {
        if self.display_name.is_empty() {
            format!("{} ({})", consumer.display_name, self.sub_profile_type)
        } else {
            self.display_name.clone()
        }
    }
}

/// The fields an UpdateConsumerProfile writes (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerProfileChanges {
    pub sub_profile_type: Option<String>,
    pub display_name: Option<String>,
    pub active: Option<bool>,
}

impl ConsumerProfileChanges {
    pub fn apply_to(&self, record: &ConsumerProfile) -> ConsumerProfile {
        ConsumerProfile {
            sub_profile_type: self.sub_profile_type.clone().unwrap_or_else(|| record.sub_profile_type.clone()),
            display_name: self.display_name.clone().unwrap_or_else(|| record.display_name.clone()),
            active: self.active.unwrap_or(record.active),
            ..record.clone()
        }
    }
}

// ----------------------------------------------------------------- households

/// A household of consumers with one head, always a current member (R1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Household {
    pub id: HouseholdId,
    pub name: String,
    pub head: ConsumerId,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated CreateHousehold request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHousehold {
    pub name: String,
    pub head: ConsumerId,
}

/// The fields an UpdateHousehold writes (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HouseholdChanges {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub head: Option<ConsumerId>,
}

impl HouseholdChanges {
    pub fn apply_to(&self, household: &Household) -> Household {
        Household {
            name: self.name.clone().unwrap_or_else(|| household.name.clone()),
            active: self.active.unwrap_or(household.active),
            head: self.head.unwrap_or(household.head),
            ..household.clone()
        }
    }
}

/// Membership status of a consumer in a household (R1.5, R4.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HouseholdMemberStatus {
    Current,
    /// Was a member; no longer grants household-based access (R4.11).
    Former,
}

impl HouseholdMemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HouseholdMemberStatus::Current => "current",
            HouseholdMemberStatus::Former => "former",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "current" => Some(HouseholdMemberStatus::Current),
            "former" => Some(HouseholdMemberStatus::Former),
            _ => None,
        }
    }
}

/// A consumer's membership in a household (R1.5, R4.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdMember {
    pub household: HouseholdId,
    pub consumer: ConsumerId,
    pub status: HouseholdMemberStatus,
    /// True iff the consumer is the household's head.
    pub head: bool,
    /// Start of the current (or last) membership.
    pub joined_at: DateTime<Utc>,
    /// Set when FORMER.
    pub left_at: Option<DateTime<Utc>>,
}

/// The change-feed entity id of a membership: "<household_id>/<consumer_id>".
pub fn household_member_entity_id(household: HouseholdId, consumer: ConsumerId) -> String {
    format!("{household}/{consumer}")
}

/// What SetHouseholdMembership does to a membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipTransition {
    /// Already in the requested status: nothing to write.
    Unchanged,
    /// A new current member.
    Join,
    /// A former member becomes current again (new joined_at).
    Rejoin,
    /// A current member leaves (R4.11: the feed tells account-team).
    Leave,
}

/// Why SetHouseholdMembership was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipRefusal {
    /// The head cannot leave; change the head first (reason HEAD_OF_HOUSEHOLD).
    HeadOfHousehold,
    /// FORMER for a consumer that never was a member (NOT_FOUND).
    NotAMember,
    /// Adding to an inactive household (reason HOUSEHOLD_INACTIVE).
    HouseholdInactive,
}

/// R1.5 / R4.11: the transition from `current` (None: never a member) to
/// `target`. The head of household is always a current member.
pub fn membership_transition(
    household: &Household,
    consumer: ConsumerId,
    current: Option<HouseholdMemberStatus>,
    target: HouseholdMemberStatus,
) -> Result<MembershipTransition, MembershipRefusal> {
    match (current, target) {
        (Some(status), target) if status == target => Ok(MembershipTransition::Unchanged),
        (_, HouseholdMemberStatus::Current) if !household.active => Err(MembershipRefusal::HouseholdInactive),
        (None, HouseholdMemberStatus::Current) => Ok(MembershipTransition::Join),
        (Some(_), HouseholdMemberStatus::Current) => Ok(MembershipTransition::Rejoin),
        (None, HouseholdMemberStatus::Former) => Err(MembershipRefusal::NotAMember),
        (Some(_), HouseholdMemberStatus::Former) if household.head == consumer => {
            Err(MembershipRefusal::HeadOfHousehold)
        }
        (Some(_), HouseholdMemberStatus::Former) => Ok(MembershipTransition::Leave),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn household(head: ConsumerId, active: bool) -> Household {
        let now = Utc::now();
        Household { id: HouseholdId::new(), name: "Smith".into(), head, active, created_at: now, updated_at: now }
    }

    fn candidate(kind: ProfileKind, consumer: Option<ConsumerId>) -> LinkCandidate {
        LinkCandidate { profile: ProfileId::new(), kind, consumer }
    }

    #[test]
    fn r1_3_by_default_only_consumer_users_may_be_linked() {
        let settings = IdentitySettings::default();
        let consumer = ConsumerId::new();
        assert_eq!(check_link(&settings, consumer, &candidate(ProfileKind::Consumer, None)), Ok(()));
        assert_eq!(
            check_link(&settings, consumer, &candidate(ProfileKind::Internal, None)),
            Err(LinkRefusal::UserTypeNotAllowed(UserClass::SysUser))
        );
        assert_eq!(
            check_link(&settings, consumer, &candidate(ProfileKind::Contact, None)).map_err(|refusal| refusal.reason()),
            Err("USER_TYPE_NOT_ALLOWED")
        );
    }

    #[test]
    fn r1_3_adding_a_user_class_allows_it() {
        let settings = IdentitySettings {
            consumer_allowed_user_types: vec![UserClass::ConsumerUser, UserClass::SysUser, UserClass::CustomerContact],
            ..IdentitySettings::default()
        };
        let consumer = ConsumerId::new();
        assert_eq!(check_link(&settings, consumer, &candidate(ProfileKind::Internal, None)), Ok(()));
        assert_eq!(check_link(&settings, consumer, &candidate(ProfileKind::PartnerContact, None)), Ok(()));
    }

    #[test]
    fn an_existing_link_survives_a_settings_change_and_a_profile_links_one_consumer() {
        let settings = IdentitySettings::default();
        let consumer = ConsumerId::new();
        assert_eq!(check_link(&settings, consumer, &candidate(ProfileKind::Internal, Some(consumer))), Ok(()));
        let other = ConsumerId::new();
        assert_eq!(
            check_link(&settings, consumer, &candidate(ProfileKind::Consumer, Some(other))),
            Err(LinkRefusal::ProfileAlreadyLinked(other))
        );
    }

    #[test]
    fn a_consumer_profile_cannot_lose_its_consumer() {
        let profile = ProfileId::new();
        assert_eq!(check_unlink(profile, ProfileKind::Consumer), Err(LinkRefusal::ConsumerLinkRequired(profile)));
        assert_eq!(check_unlink(profile, ProfileKind::Internal), Ok(()));
        assert_eq!(check_unlink(profile, ProfileKind::Contact), Ok(()));
    }

    #[test]
    fn an_unlinked_contact_loses_the_consumer_portal_only() {
        let kept = channels_after_unlink(ProfileKind::Contact, &[Channel::CustomerPortal, Channel::ConsumerPortal]);
        assert_eq!(kept, vec![Channel::CustomerPortal]);
        let kept = channels_after_unlink(ProfileKind::Internal, &[Channel::Browser, Channel::ConsumerPortal]);
        assert_eq!(kept, vec![Channel::Browser]);
    }

    #[test]
    fn r1_18_only_consumer_user_profiles_are_synchronized() {
        assert!(syncs_details_to_linked_profile(ProfileKind::Consumer));
        assert!(!syncs_details_to_linked_profile(ProfileKind::Internal));
        assert!(!syncs_details_to_linked_profile(ProfileKind::Contact));
        assert!(!syncs_details_to_linked_profile(ProfileKind::PartnerContact));
        let profile = PersonDetails { first_name: "Old".into(), email: "old@example.com".into(), ..Default::default() };
        let consumer =
            PersonDetails { first_name: "New".into(), email: "new@example.com".into(), ..Default::default() };
        let synced = synchronized_details(&profile, &consumer, &["first_name"]);
        assert_eq!(synced.first_name, "New");
        assert_eq!(synced.email, "old@example.com");
    }

    #[test]
    fn consumer_changes_touch_only_the_named_fields() {
        let now = Utc::now();
        let consumer = Consumer {
            id: ConsumerId::new(),
            display_name: "Ann Lee".into(),
            details: PersonDetails { first_name: "Ann".into(), last_name: "Lee".into(), ..Default::default() },
            user_profile: None,
            active: true,
            created_at: now,
            updated_at: now,
        };
        let changes = ConsumerChanges {
            detail_fields: vec!["last_name"],
            detail_values: PersonDetails {
                last_name: "Kim".into(),
                first_name: "ignored".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let updated = changes.apply_to(&consumer);
        assert_eq!(updated.details.first_name, "Ann");
        assert_eq!(updated.details.last_name, "Kim");
        assert_eq!(updated.display_name, "Ann Lee");
    }

    #[test]
    fn r1_5_members_join_leave_and_rejoin_but_the_head_stays() {
        let head = ConsumerId::new();
        let member = ConsumerId::new();
        let home = household(head, true);
        use HouseholdMemberStatus::{Current, Former};
        assert_eq!(membership_transition(&home, member, None, Current), Ok(MembershipTransition::Join));
        assert_eq!(membership_transition(&home, member, Some(Current), Current), Ok(MembershipTransition::Unchanged));
        assert_eq!(membership_transition(&home, member, Some(Current), Former), Ok(MembershipTransition::Leave));
        assert_eq!(membership_transition(&home, member, Some(Former), Current), Ok(MembershipTransition::Rejoin));
        assert_eq!(membership_transition(&home, member, Some(Former), Former), Ok(MembershipTransition::Unchanged));
        assert_eq!(membership_transition(&home, member, None, Former), Err(MembershipRefusal::NotAMember));
        assert_eq!(membership_transition(&home, head, Some(Current), Former), Err(MembershipRefusal::HeadOfHousehold));
    }

    #[test]
    fn an_inactive_household_takes_no_new_members_but_lets_them_leave() {
        let head = ConsumerId::new();
        let member = ConsumerId::new();
        let closed = household(head, false);
        use HouseholdMemberStatus::{Current, Former};
        assert_eq!(membership_transition(&closed, member, None, Current), Err(MembershipRefusal::HouseholdInactive));
        assert_eq!(membership_transition(&closed, member, Some(Current), Former), Ok(MembershipTransition::Leave));
    }

    #[test]
    fn a_consumer_profile_is_named_after_its_consumer_by_default() {
        let now = Utc::now();
        let consumer = Consumer {
            id: ConsumerId::new(),
            display_name: "Ann Lee".into(),
            details: PersonDetails::default(),
            user_profile: None,
            active: true,
            created_at: now,
            updated_at: now,
        };
        let new = NewConsumerProfile {
            consumer: consumer.id,
            sub_profile_type: "patient".into(),
            display_name: String::new(),
        };
        assert_eq!(new.display_name_for(&consumer), "Ann Lee (patient)");
        let named = NewConsumerProfile { display_name: "Ann at the clinic".into(), ..new };
        assert_eq!(named.display_name_for(&consumer), "Ann at the clinic");
    }
}
