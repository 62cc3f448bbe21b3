//! Email intake (R4.21): an inbound email becomes a proxy case, the sender's
//! own case, or no case, once per Message-ID.

use csm_changefeed::idempotency::{self, RequestKey};
use csm_errors::{CsmError, CsmResult, ErrorCode};
use csm_proto::identity::{ListProfilesRequest, ProfileKind};
use csm_types::{AccountId, CaseId, ProfileId};

use crate::app::CaseAccessApp;
use crate::app::cache::Freshness;
use crate::domain::principal::{PrincipalContext, PrincipalKind};
use crate::domain::record::{CaseRecord, CreateFor, Draft};
use crate::domain::work::{self as rules, EmailSender};
use crate::store::cases;

/// An inbound email (CreateCaseFromEmail).
#[derive(Clone, Debug, Default)]
pub struct InboundEmail {
    pub message_id: Option<String>,
    pub sender: String,
    /// To then Cc addresses, in order.
    pub recipients: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// What email intake did (contract: EmailIntakeOutcome).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntakeOutcome {
    CaseCreated,
    SenderUnknown,
    SenderNotAuthorized,
    ContactUnresolved,
    RateLimited,
}

impl IntakeOutcome {
    fn code(self) -> &'static str {
        match self {
            IntakeOutcome::CaseCreated => "CASE_CREATED",
            IntakeOutcome::SenderUnknown => "SENDER_UNKNOWN",
            IntakeOutcome::SenderNotAuthorized => "SENDER_NOT_AUTHORIZED",
            IntakeOutcome::ContactUnresolved => "CONTACT_UNRESOLVED",
            IntakeOutcome::RateLimited => "RATE_LIMITED",
        }
    }

    fn parse(code: &str) -> Option<Self> {
        [
            IntakeOutcome::CaseCreated,
            IntakeOutcome::SenderUnknown,
            IntakeOutcome::SenderNotAuthorized,
            IntakeOutcome::ContactUnresolved,
            IntakeOutcome::RateLimited,
        ]
        .into_iter()
        .find(|outcome| outcome.code() == code)
    }
}

/// Email intake's answer.
#[derive(Clone, Debug)]
pub struct Intake {
    pub outcome: IntakeOutcome,
    pub case: Option<CaseRecord>,
    pub sender: Option<ProfileId>,
    pub consistency_token: String,
}

impl CaseAccessApp {
    /// Profiles whose email is `address` (case-insensitive), active ones only.
    ///
    /// identity offers no lookup by email for profiles, so this pages through
    /// ListProfiles; a dedicated identity RPC would replace it.
    async fn profiles_by_email(&self, address: &str) -> CsmResult<Vec<(ProfileId, i32, String)>> {
        let wanted = address.trim().to_lowercase();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for profile in self.identity.profiles_where(&ListProfilesRequest::default()).await? {
            let email = profile.details.as_ref().map(|details| details.email.trim().to_lowercase());
            if profile.active
                && email.as_deref() == Some(wanted.as_str())
                && let Ok(id) = ProfileId::parse(&profile.profile_id)
            {
                found.push((id, profile.kind, profile.account_id.clone()));
            }
        }
        Ok(found)
    }

    /// CreateCaseFromEmail (R4.21): a proxy case, the sender's own case, or no case.
    ///
    /// The one idempotency rule, with the Message-ID as request id: it is the
    /// gateway's (`scope`, its service identity) and the email is the request,
    /// so a redelivered email answers the first outcome, and another email
    /// under the same Message-ID is REQUEST_ID_CONFLICT.
    pub async fn create_case_from_email(&self, scope: &str, email: InboundEmail) -> CsmResult<Intake> {
        const RPC: &str = "CreateCaseFromEmail";
        let payload = (&email.sender, &email.recipients, &email.subject, &email.body);
        let key = RequestKey::new(RPC, scope, email.message_id.as_deref(), &payload);
        if let Some(replay) = key.replayed(&self.db).await? {
            return self.replayed_intake(&replay).await;
        }
        let intake = self.intake(&email).await?;
        if key.request_id().is_some() {
            let record = format!(
                "{}|{}|{}",
                intake.sender.map(|id| id.to_string()).unwrap_or_default(),
                intake.case.as_ref().map(|case| case.id.to_string()).unwrap_or_default(),
                intake.consistency_token
            );
            let mut tx = self.db.begin().await?;
            if key.record(&mut tx, intake.outcome.code(), 0, &record).await? {
                tx.commit().await?;
            } else if let Some(replay) = key.replayed(&self.db).await? {
                // A concurrent redelivery recorded first: answer as it did.
                return self.replayed_intake(&replay).await;
            }
        }
        Ok(intake)
    }

    async fn replayed_intake(&self, replay: &idempotency::Replay) -> CsmResult<Intake> {
        let malformed = || CsmError::internal("malformed email intake record");
        let outcome = IntakeOutcome::parse(&replay.entity).ok_or_else(malformed)?;
        let mut parts = replay.extra.splitn(3, '|');
        let sender = parts.next().and_then(|id| ProfileId::parse(id).ok());
        let case = match parts.next().and_then(|id| CaseId::parse(id).ok()) {
            Some(id) => cases::get_case(&self.db, id).await?,
            None => None,
        };
        let consistency_token = parts.next().ok_or_else(malformed)?.to_owned();
        Ok(Intake { outcome, case, sender, consistency_token })
    }

    async fn intake(&self, email: &InboundEmail) -> CsmResult<Intake> {
        let no_case = |outcome, sender| Intake { outcome, case: None, sender, consistency_token: String::new() };
        let candidates = self.profiles_by_email(&email.sender).await?;
        if candidates.is_empty() {
            return Ok(no_case(IntakeOutcome::SenderUnknown, None));
        }
        // One address may name several profiles of a person: prefer one that may create by email.
        let mut chosen: Option<(std::sync::Arc<PrincipalContext>, EmailSender)> = None;
        for (profile, _, _) in &candidates {
            let ctx = self.context(*profile, &Freshness::FullyConsistent).await?;
            let sender = rules::email_sender(&ctx);
            let better = chosen.as_ref().is_none_or(|(_, current)| *current == EmailSender::NotAuthorized);
            if better {
                chosen = Some((ctx, sender));
            }
        }
        let Some((ctx, sender)) = chosen else { return Ok(no_case(IntakeOutcome::SenderUnknown, None)) };
        let me = Some(ctx.profile);
        let short_description = {
            let subject: String = email.subject.trim().chars().take(160).collect();
            if subject.is_empty() { "(no subject)".to_owned() } else { subject }
        };
        let mut draft = Draft {
            short_description,
            description: email.body.clone(),
            priority: "MODERATE".to_owned(),
            channel: "EMAIL".to_owned(),
            ..Draft::default()
        };
        match sender {
            EmailSender::NotAuthorized => return Ok(no_case(IntakeOutcome::SenderNotAuthorized, me)),
            EmailSender::ProxyContact => {
                let mut contact: Option<(ProfileId, AccountId)> = None;
                for address in &email.recipients {
                    for (profile, kind, account) in self.profiles_by_email(address).await? {
                        let is_contact =
                            kind == ProfileKind::Contact as i32 || kind == ProfileKind::PartnerContact as i32;
                        if is_contact
                            && contact.is_none()
                            && let Ok(account) = AccountId::parse(&account)
                        {
                            contact = Some((profile, account));
                        }
                    }
                    if contact.is_some() {
                        break;
                    }
                }
                let Some((contact, account)) = contact else {
                    return Ok(no_case(IntakeOutcome::ContactUnresolved, me));
                };
                draft.create_for = Some(CreateFor::Account);
                draft.account = Some(account);
                draft.contact = Some(contact);
            }
            EmailSender::Customer => match ctx.kind {
                PrincipalKind::Consumer => draft.create_for = Some(CreateFor::Consumer),
                _ => {
                    draft.create_for = Some(CreateFor::Account);
                    draft.account = ctx.account;
                }
            },
        }
        let request = email.message_id.as_deref().map(|id| ("CreateCaseFromEmail", id));
        match self.create_case(&ctx, draft, request, None).await {
            Ok((case, _, consistency_token)) => {
                Ok(Intake { outcome: IntakeOutcome::CaseCreated, case: Some(case), sender: me, consistency_token })
            }
            Err(error) if error.code() == ErrorCode::ResourceExhausted => Ok(no_case(IntakeOutcome::RateLimited, me)),
            Err(error) if matches!(error.code(), ErrorCode::PermissionDenied | ErrorCode::InvalidArgument) => {
                Ok(no_case(IntakeOutcome::SenderNotAuthorized, me))
            }
            Err(error) => Err(error),
        }
    }
}
